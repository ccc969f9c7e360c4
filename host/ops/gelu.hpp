#pragma once
// gelu: descriptor (validation, cost) and naive reference. SCAFFOLD: to be written.

#include <cstdint>
#include <span>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_gelu(const Tensor& x, const Tensor& out, GeluKind kind);
void validate_gelu_backward(const Tensor& x, const Tensor& dout, const Tensor& dx, GeluKind kind);
}  // namespace tandem::op
