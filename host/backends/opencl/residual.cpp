// Residual connection on OpenCL devices: fpga/kernels/residual.cl.
#include "backends/opencl/opencl_kernels.hpp"

namespace tandem::opencl {

void OpenclKernels::do_residual_add(const Tensor& a, const Tensor& b, Tensor& out) {
  Submission s(*this);
  s.run("residual", "residual_add", device_.compute_units, {in(a), in(b), opencl::out(out), i32(a.numel())});
  s.finish();
}

void OpenclKernels::do_residual_add_backward(const Tensor& dout, Tensor& da, Tensor& db) {
  Submission s(*this);
  s.run("residual", "residual_add_backward", device_.compute_units,
        {in(dout), inout(da), inout(db), i32(dout.numel()), i32(da.defined()), i32(db.defined())});
  s.finish();
}

}  // namespace tandem::opencl
