#pragma once
// dropout: descriptor (validation, cost) and naive reference. SCAFFOLD: to be written.

#include <cstdint>
#include <span>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_dropout(const Tensor& x, const Tensor& out, const DropoutArgs& args);
void validate_dropout_backward(const Tensor& dout, const Tensor& dx, const DropoutArgs& args);
}  // namespace tandem::op
