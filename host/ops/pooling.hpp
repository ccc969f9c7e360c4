#pragma once
// Sequence pooling. Descriptor (validation, cost) and naive reference.
//   mean_pool:       x (B, T, C), mask (B, T) f32 weights or undefined, out (B, C)
//     forward:  S[b]      = Σ_t mask[b,t]            (T when mask is undefined)
//               out[b,c]  = Σ_t mask[b,t] · x[b,t,c] / S[b],   or 0 when S[b] == 0
//     backward: dx[b,t,c] += dout[b,c] · mask[b,t] / S[b]      (nothing when S[b] == 0)
//     The mask is meant to hold 1 for tokens and 0 for padding; any finite weights >= 0
//     are accepted (a weighted mean), negative or non-finite ones are an error.
//   first_token_pool: x (B, T, C), out (B, C)
//     forward:  out[b,c]    = x[b,0,c]
//     backward: dx[b,0,c]  += dout[b,c]                         (rows t > 0 untouched)

#include <cstdint>

#include "ops/op_kind.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_mean_pool(const Tensor& x, const Tensor& mask, const Tensor& out);
void validate_mean_pool_backward(const Tensor& dout, const Tensor& mask, const Tensor& dx);
void validate_first_token_pool(const Tensor& x, const Tensor& out);
void validate_first_token_pool_backward(const Tensor& dout, const Tensor& dx);
// x (B, T, C) for all four.
OpCost mean_pool_cost(const Shape& x, bool with_mask);
OpCost mean_pool_backward_cost(const Shape& x, bool with_mask);
OpCost first_token_pool_cost(const Shape& x);
OpCost first_token_pool_backward_cost(const Shape& x);
}  // namespace tandem::op

namespace tandem::ref {
// mask may be nullptr (every token weighs 1).
template <class T>
void mean_pool(const T* x, const T* mask, T* out, std::int64_t B, std::int64_t seq, std::int64_t C);
template <class T>
void mean_pool_backward(const T* dout, const T* mask, T* dx, std::int64_t B, std::int64_t seq, std::int64_t C);
template <class T> void first_token_pool(const T* x, T* out, std::int64_t B, std::int64_t seq, std::int64_t C);
template <class T>
void first_token_pool_backward(const T* dout, T* dx, std::int64_t B, std::int64_t seq, std::int64_t C);
}  // namespace tandem::ref
