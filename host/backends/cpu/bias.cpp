#include "backends/cpu/cpu_kernels.hpp"
#include "tandem/error.hpp"

namespace tandem {

void CpuKernels::do_bias_add(const Tensor& x, const Tensor& bias, Tensor& out) {
  throw Error("bias_add: not implemented");
}

void CpuKernels::do_bias_backward(const Tensor& dout, Tensor& dbias) {
  throw Error("bias_backward: not implemented");
}

}  // namespace tandem
