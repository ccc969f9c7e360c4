#include "ops/embedding.hpp"

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

void validate_embedding(const Tensor& ids, const Tensor& wte, const Tensor& wpe, const Tensor& out) {
  throw Error("embedding: not implemented");
}

void validate_embedding_backward(const Tensor& ids, const Tensor& dout, const Tensor& dwte, const Tensor& dwpe) {
  throw Error("embedding_backward: not implemented");
}

}  // namespace tandem::op

namespace tandem {

void ReferenceKernels::do_embedding(const Tensor& ids, const Tensor& wte, const Tensor& wpe, Tensor& out) {
  throw Error("embedding: not implemented");
}

void ReferenceKernels::do_embedding_backward(const Tensor& ids, const Tensor& dout, Tensor& dwte, Tensor& dwpe) {
  throw Error("embedding_backward: not implemented");
}

}  // namespace tandem
