#include "backends/cpu/cpu_kernels.hpp"
#include "tandem/error.hpp"

namespace tandem {

void CpuKernels::do_embedding(const Tensor& ids, const Tensor& wte, const Tensor& wpe, Tensor& out) {
  throw Error("embedding: not implemented");
}

void CpuKernels::do_embedding_backward(const Tensor& ids, const Tensor& dout, Tensor& dwte, Tensor& dwpe) {
  throw Error("embedding_backward: not implemented");
}

}  // namespace tandem
