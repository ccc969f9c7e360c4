#include "ops/cross_entropy.hpp"

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

void validate_cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& loss, const Tensor& lse, const CrossEntropyArgs& args) {
  throw Error("cross_entropy: not implemented");
}

void validate_cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse, float dloss, const Tensor& dlogits, const CrossEntropyArgs& args) {
  throw Error("cross_entropy_backward: not implemented");
}

}  // namespace tandem::op

namespace tandem {

void ReferenceKernels::do_cross_entropy(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& lse, const CrossEntropyArgs& args) {
  throw Error("cross_entropy: not implemented");
}

void ReferenceKernels::do_cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse, float dloss, Tensor& dlogits, const CrossEntropyArgs& args) {
  throw Error("cross_entropy_backward: not implemented");
}

}  // namespace tandem
