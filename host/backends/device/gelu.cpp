// Gelu on the kernel backends (OpenCL, XRT): fpga/kernels/gelu.cl.
#include "backends/device/device_kernels.hpp"

namespace tandem::device {

void DeviceKernels::do_gelu(const Tensor& x, Tensor& out, GeluKind kind) {
  Submission s(*this);
  s.run("gelu", kind == GeluKind::Tanh ? "gelu_tanh" : "gelu_erf", compute_units(),
        {in(x), device::out(out), i32(x.numel())});
  s.finish();
}

void DeviceKernels::do_gelu_backward(const Tensor& x, const Tensor& dout, Tensor& dx, GeluKind kind) {
  Submission s(*this);
  s.run("gelu", kind == GeluKind::Tanh ? "gelu_tanh_backward" : "gelu_erf_backward", compute_units(),
        {in(x), in(dout), inout(dx), i32(x.numel())});
  s.finish();
}

}  // namespace tandem::device
