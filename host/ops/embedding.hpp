#pragma once
// embedding: descriptor (validation, cost) and naive reference. SCAFFOLD: to be written.

#include <cstdint>
#include <span>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_embedding(const Tensor& ids, const Tensor& wte, const Tensor& wpe, const Tensor& out);
void validate_embedding_backward(const Tensor& ids, const Tensor& dout, const Tensor& dwte, const Tensor& dwpe);
}  // namespace tandem::op
