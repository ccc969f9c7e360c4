#pragma once
// lora: descriptor (validation, cost) and naive reference. SCAFFOLD: to be written.

#include <cstdint>
#include <span>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_lora(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& out, const Tensor& xa, const LoraArgs& args);
void validate_lora_backward(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& xa, const Tensor& dout, const Tensor& dx, const Tensor& da, const Tensor& db, const LoraArgs& args);
}  // namespace tandem::op
