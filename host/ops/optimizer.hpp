#pragma once
// optimizer: descriptor (validation, cost) and naive reference. SCAFFOLD: to be written.

#include <cstdint>
#include <span>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_grad_norm(std::span<const Tensor> grads);
void validate_clip_grad_norm(std::span<Tensor> grads, float max_norm);
void validate_adamw(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, const AdamWArgs& args);
}  // namespace tandem::op
