#pragma once
// attention: descriptor (validation, cost) and naive reference. SCAFFOLD: to be written.

#include <cstdint>
#include <span>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, const Tensor& out, const Tensor& probs, const AttentionArgs& args);
void validate_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs, const Tensor& dout, const Tensor& dq, const Tensor& dk, const Tensor& dv, const AttentionArgs& args);
}  // namespace tandem::op
