#include "backends/cpu/cpu_kernels.hpp"
#include "tandem/error.hpp"

namespace tandem {

void CpuKernels::do_dropout(const Tensor& x, Tensor& out, const DropoutArgs& args) {
  throw Error("dropout: not implemented");
}

void CpuKernels::do_dropout_backward(const Tensor& dout, Tensor& dx, const DropoutArgs& args) {
  throw Error("dropout_backward: not implemented");
}

}  // namespace tandem
