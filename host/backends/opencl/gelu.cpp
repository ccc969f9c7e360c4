// Gelu on OpenCL devices: fpga/kernels/gelu.cl.
#include "backends/opencl/opencl_kernels.hpp"

namespace tandem::opencl {

void OpenclKernels::do_gelu(const Tensor& x, Tensor& out, GeluKind kind) {
  Submission s(*this);
  s.run("gelu", kind == GeluKind::Tanh ? "gelu_tanh" : "gelu_erf", device_.compute_units,
        {in(x), opencl::out(out), i32(x.numel())});
  s.finish();
}

void OpenclKernels::do_gelu_backward(const Tensor& x, const Tensor& dout, Tensor& dx, GeluKind kind) {
  Submission s(*this);
  s.run("gelu", kind == GeluKind::Tanh ? "gelu_tanh_backward" : "gelu_erf_backward", device_.compute_units,
        {in(x), in(dout), inout(dx), i32(x.numel())});
  s.finish();
}

}  // namespace tandem::opencl
