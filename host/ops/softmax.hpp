#pragma once
// softmax: descriptor (validation, cost) and naive reference. SCAFFOLD: to be written.

#include <cstdint>
#include <span>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_softmax(const Tensor& x, const Tensor& out);
void validate_softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx);
}  // namespace tandem::op
