#include "backends/cpu/cpu_kernels.hpp"
#include "tandem/error.hpp"

namespace tandem {

void CpuKernels::do_matmul(const Tensor& a, const Tensor& b, Tensor& out, const MatMulArgs& args) {
  throw Error("matmul: not implemented");
}

void CpuKernels::do_matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dout, Tensor& da, Tensor& db, const MatMulArgs& args) {
  throw Error("matmul_backward: not implemented");
}

}  // namespace tandem
