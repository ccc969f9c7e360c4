#include "ops/attention.hpp"

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

void validate_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, const Tensor& out, const Tensor& probs, const AttentionArgs& args) {
  throw Error("attention: not implemented");
}

void validate_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs, const Tensor& dout, const Tensor& dq, const Tensor& dk, const Tensor& dv, const AttentionArgs& args) {
  throw Error("attention_backward: not implemented");
}

}  // namespace tandem::op

namespace tandem {

void ReferenceKernels::do_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, Tensor& out, Tensor& probs, const AttentionArgs& args) {
  throw Error("attention: not implemented");
}

void ReferenceKernels::do_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs, const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv, const AttentionArgs& args) {
  throw Error("attention_backward: not implemented");
}

}  // namespace tandem
