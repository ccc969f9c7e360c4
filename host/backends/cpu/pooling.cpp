#include "backends/cpu/cpu_kernels.hpp"
#include "tandem/error.hpp"

namespace tandem {

void CpuKernels::do_mean_pool(const Tensor& x, const Tensor& mask, Tensor& out) {
  throw Error("mean_pool: not implemented");
}

void CpuKernels::do_mean_pool_backward(const Tensor& dout, const Tensor& mask, Tensor& dx) {
  throw Error("mean_pool_backward: not implemented");
}

void CpuKernels::do_first_token_pool(const Tensor& x, Tensor& out) {
  throw Error("first_token_pool: not implemented");
}

void CpuKernels::do_first_token_pool_backward(const Tensor& dout, Tensor& dx) {
  throw Error("first_token_pool_backward: not implemented");
}

}  // namespace tandem
