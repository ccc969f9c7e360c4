// Residual connection on the kernel backends (OpenCL, XRT): fpga/kernels/residual.cl.
#include "backends/device/device_kernels.hpp"

namespace tandem::device {

void DeviceKernels::do_residual_add(const Tensor& a, const Tensor& b, Tensor& out) {
  Submission s(*this);
  s.run("residual", "residual_add", compute_units(), {in(a), in(b), device::out(out), i32(a.numel())});
  s.finish();
}

void DeviceKernels::do_residual_add_backward(const Tensor& dout, Tensor& da, Tensor& db) {
  Submission s(*this);
  s.run("residual", "residual_add_backward", compute_units(),
        {in(dout), inout(da), inout(db), i32(dout.numel()), i32(da.defined()), i32(db.defined())});
  s.finish();
}

}  // namespace tandem::device
