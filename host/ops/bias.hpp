#pragma once
// bias: descriptor (validation, cost) and naive reference. SCAFFOLD: to be written.

#include <cstdint>
#include <span>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_bias_add(const Tensor& x, const Tensor& bias, const Tensor& out);
void validate_bias_backward(const Tensor& dout, const Tensor& dbias);
}  // namespace tandem::op
