#include "backends/cpu/cpu_kernels.hpp"
#include "tandem/error.hpp"

namespace tandem {

void CpuKernels::do_cross_entropy(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& lse, const CrossEntropyArgs& args) {
  throw Error("cross_entropy: not implemented");
}

void CpuKernels::do_cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse, float dloss, Tensor& dlogits, const CrossEntropyArgs& args) {
  throw Error("cross_entropy_backward: not implemented");
}

}  // namespace tandem
