#pragma once
// pooling: descriptor (validation, cost) and naive reference. SCAFFOLD: to be written.

#include <cstdint>
#include <span>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_mean_pool(const Tensor& x, const Tensor& mask, const Tensor& out);
void validate_mean_pool_backward(const Tensor& dout, const Tensor& mask, const Tensor& dx);
void validate_first_token_pool(const Tensor& x, const Tensor& out);
void validate_first_token_pool_backward(const Tensor& dout, const Tensor& dx);
}  // namespace tandem::op
