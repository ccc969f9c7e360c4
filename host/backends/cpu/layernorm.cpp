#include "backends/cpu/cpu_kernels.hpp"
#include "tandem/error.hpp"

namespace tandem {

void CpuKernels::do_layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out, Tensor& mean, Tensor& rstd) {
  throw Error("layernorm: not implemented");
}

void CpuKernels::do_layernorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd, Tensor& dx, Tensor& dweight, Tensor& dbias) {
  throw Error("layernorm_backward: not implemented");
}

}  // namespace tandem
