// Pooling on the kernel backends (OpenCL, XRT): fpga/kernels/pooling.cl.
#include "backends/device/device_kernels.hpp"

namespace tandem::device {

// Mean pooling runs two kernels in one submission: the per-row inverse weights into a (B)
// scratch tensor (which outlives the submission that wraps it), then the pooling itself.
void DeviceKernels::do_mean_pool(const Tensor& x, const Tensor& mask, Tensor& out) {
  const std::int64_t B = x.dim(0), T = x.dim(1), C = x.dim(2);
  Tensor inv = Tensor::empty({B});
  Submission s(*this);
  s.run("pooling", "pool_inverse_weights", compute_units(),
        {in(mask), device::out(inv), i32(B), i32(T), i32(mask.defined())});
  s.run("pooling", "mean_pool_forward", compute_units(),
        {in(x), in(mask), in(inv), device::out(out), i32(B), i32(T), i32(C), i32(mask.defined())});
  s.finish();
}

void DeviceKernels::do_mean_pool_backward(const Tensor& dout, const Tensor& mask, Tensor& dx) {
  const std::int64_t B = dx.dim(0), T = dx.dim(1), C = dx.dim(2);
  Tensor inv = Tensor::empty({B});
  Submission s(*this);
  s.run("pooling", "pool_inverse_weights", compute_units(),
        {in(mask), device::out(inv), i32(B), i32(T), i32(mask.defined())});
  s.run("pooling", "mean_pool_backward", compute_units(),
        {in(dout), in(mask), in(inv), inout(dx), i32(B), i32(T), i32(C), i32(mask.defined())});
  s.finish();
}

void DeviceKernels::do_first_token_pool(const Tensor& x, Tensor& out) {
  Submission s(*this);
  s.run("pooling", "first_token_pool_forward", compute_units(),
        {in(x), device::out(out), i32(x.dim(0)), i32(x.dim(1)), i32(x.dim(2))});
  s.finish();
}

void DeviceKernels::do_first_token_pool_backward(const Tensor& dout, Tensor& dx) {
  Submission s(*this);
  s.run("pooling", "first_token_pool_backward", compute_units(),
        {in(dout), inout(dx), i32(dx.dim(0)), i32(dx.dim(1)), i32(dx.dim(2))});
  s.finish();
}

}  // namespace tandem::device
