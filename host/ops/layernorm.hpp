#pragma once
// layernorm: descriptor (validation, cost) and naive reference. SCAFFOLD: to be written.

#include <cstdint>
#include <span>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, const Tensor& out, const Tensor& mean, const Tensor& rstd);
void validate_layernorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd, const Tensor& dx, const Tensor& dweight, const Tensor& dbias);
}  // namespace tandem::op
