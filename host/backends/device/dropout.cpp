// Dropout on the kernel backends (OpenCL, XRT): fpga/kernels/dropout.cl. The mask key and 1/(1 − p)
// are computed here exactly as the CPU backend computes them, so the kernels reproduce its output
// bit for bit.
#include "backends/device/device_kernels.hpp"
#include "ops/dropout.hpp"

namespace tandem::device {

namespace {
float keep_scale(float p) { return static_cast<float>(1.0 / (1.0 - double(p))); }
}  // namespace

void DeviceKernels::do_dropout(const Tensor& x, Tensor& out, const DropoutArgs& args) {
  Submission s(*this);
  s.run("dropout", "dropout_forward", compute_units(),
        {in(x), device::out(out), i32(x.numel()), u64(op::dropout_key(args.seed)), f32(args.p),
         f32(keep_scale(args.p))});
  s.finish();
}

void DeviceKernels::do_dropout_backward(const Tensor& dout, Tensor& dx, const DropoutArgs& args) {
  Submission s(*this);
  s.run("dropout", "dropout_backward", compute_units(),
        {in(dout), inout(dx), i32(dout.numel()), u64(op::dropout_key(args.seed)), f32(args.p),
         f32(keep_scale(args.p))});
  s.finish();
}

}  // namespace tandem::device
