#pragma once
// Token (+ position) embedding. Descriptor (validation, cost) and naive reference.
//   forward:  out[b,t,:] = wte[ids[b,t], :] + wpe[t, :]     ids (B, T) i32 in [0, V)
//                                                             wte (V, C), wpe (P, C), P >= T
//                                                             out (B, T, C)
//             wpe may be undefined: no position term (BERT's token-type embedding).
//   backward: dwte[ids[b,t], :] += dout[b,t,:]                dout (B, T, C), dwte (V, C)
//             dwpe[t, :]        += Σ_b dout[b,t,:]            dwpe (P, C) or undefined
//             Rows t >= T of dwpe are untouched.

#include <cstdint>

#include "ops/op_kind.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_embedding(const Tensor& ids, const Tensor& wte, const Tensor& wpe, const Tensor& out);
void validate_embedding_backward(const Tensor& ids, const Tensor& dout, const Tensor& dwte, const Tensor& dwpe);
// ids (B, T), C channels, with or without the position term.
OpCost embedding_cost(const Shape& ids, std::int64_t C, bool with_pos);
OpCost embedding_backward_cost(const Shape& ids, std::int64_t C, bool with_pos);
}  // namespace tandem::op

namespace tandem::ref {
// wpe / dwpe may be nullptr (no position term). ids must be valid (checked by validation).
template <class T>
void embedding(const std::int32_t* ids, const T* wte, const T* wpe, T* out, std::int64_t B, std::int64_t seq,
               std::int64_t C);
template <class T>
void embedding_backward(const std::int32_t* ids, const T* dout, T* dwte, T* dwpe, std::int64_t B, std::int64_t seq,
                        std::int64_t C);
}  // namespace tandem::ref
