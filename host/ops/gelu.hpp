#pragma once
// Element-wise GELU. Descriptor (validation, cost) and naive reference.
//   x, out, dout, dx: any shape, all equal.
//   Tanh (GPT-2):  gelu(x)  = 0.5·x·(1 + tanh(u)),  u = √(2/π)·(x + 0.044715·x³)
//                  gelu'(x) = 0.5·(1 + tanh(u)) + 0.5·x·(1 − tanh²(u))·√(2/π)·(1 + 3·0.044715·x²)
//   Erf (BERT):    gelu(x)  = 0.5·x·(1 + erf(x/√2)) = x·Φ(x)
//                  gelu'(x) = Φ(x) + x·φ(x),  φ(x) = exp(−x²/2)/√(2π)
//   forward:  out = gelu(x)
//   backward: dx += gelu'(x) · dout
// Both forms are evaluated without the cancellation of 1 + tanh / 1 + erf for x < 0:
// 0.5·(1 + tanh(u)) = 1/(1 + exp(−2u)) and 0.5·(1 + erf(z)) = 0.5·erfc(−z), so the tiny
// outputs of the negative tail keep their relative accuracy.

#include <cstdint>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_gelu(const Tensor& x, const Tensor& out, GeluKind kind);
void validate_gelu_backward(const Tensor& x, const Tensor& dout, const Tensor& dx, GeluKind kind);
OpCost gelu_cost(const Shape& x, GeluKind kind);
OpCost gelu_backward_cost(const Shape& x, GeluKind kind);
}  // namespace tandem::op

namespace tandem::ref {
template <class T> void gelu(const T* x, T* out, std::int64_t n, GeluKind kind);
template <class T> void gelu_backward(const T* x, const T* dout, T* dx, std::int64_t n, GeluKind kind);
}  // namespace tandem::ref
