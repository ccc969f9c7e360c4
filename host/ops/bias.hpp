#pragma once
// Bias add, broadcast over rows. Descriptor (validation, cost) and naive reference.
//   forward:  out[n, c] = x[n, c] + bias[c]          x, out (N, C) or any rank with last dim C
//                                                      bias (C)
//   backward: dbias[c] += Σ_n dout[n, c]              dout (N, C) likewise, dbias (C)
// (dx of bias_add is dout itself, so the graph passes dout on instead of calling an op.)

#include <cstdint>

#include "ops/op_kind.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_bias_add(const Tensor& x, const Tensor& bias, const Tensor& out);
void validate_bias_backward(const Tensor& dout, const Tensor& dbias);
OpCost bias_add_cost(const Shape& x);
OpCost bias_backward_cost(const Shape& dout);
}  // namespace tandem::op

namespace tandem::ref {
template <class T> void bias_add(const T* x, const T* bias, T* out, std::int64_t N, std::int64_t C);
template <class T> void bias_backward(const T* dout, T* dbias, std::int64_t N, std::int64_t C);
}  // namespace tandem::ref
