#pragma once
// cross_entropy: descriptor (validation, cost) and naive reference. SCAFFOLD: to be written.

#include <cstdint>
#include <span>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& loss, const Tensor& lse, const CrossEntropyArgs& args);
void validate_cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse, float dloss, const Tensor& dlogits, const CrossEntropyArgs& args);
}  // namespace tandem::op
