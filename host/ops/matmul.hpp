#pragma once
// matmul: descriptor (validation, cost) and naive reference. SCAFFOLD: to be written.

#include <cstdint>
#include <span>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_matmul(const Tensor& a, const Tensor& b, const Tensor& out, const MatMulArgs& args);
void validate_matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dout, const Tensor& da, const Tensor& db, const MatMulArgs& args);
}  // namespace tandem::op
