#pragma once
// Row-wise softmax over the last dimension. Descriptor (validation, cost) and reference.
//   x, out, y, dy, dx: (N, C) or any rank with last dim C, all equal.
//   forward:  out[n,c] = exp(x[n,c] − max_c x[n,:]) / Σ_c' exp(x[n,c'] − max_c x[n,:])
//             (the row max is subtracted for stability; −inf entries give 0)
//   backward: dx[n,c] += y[n,c] · (dy[n,c] − Σ_c' dy[n,c'] · y[n,c'])     y = forward output

#include <cstdint>

#include "ops/op_kind.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_softmax(const Tensor& x, const Tensor& out);
void validate_softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx);
OpCost softmax_cost(const Shape& x);
OpCost softmax_backward_cost(const Shape& y);
}  // namespace tandem::op

namespace tandem::ref {
template <class T> void softmax(const T* x, T* out, std::int64_t N, std::int64_t C);
template <class T> void softmax_backward(const T* y, const T* dy, T* dx, std::int64_t N, std::int64_t C);
}  // namespace tandem::ref
