#pragma once
// Fused scaled dot-product attention. Descriptor (validation, cost) and naive reference.
//   q (B, T, C), k and v (B, S, C), out (B, T, C), probs (B, H, T, S), key_mask (B, S) or none.
//   Heads are interleaved in the channels: head h owns channels [h·D, (h+1)·D), D = C / H.
//   forward, per (b, h):
//     s[t, s'] = scale · q_t · k_s'            scale = args.scale, or 1/sqrt(D) when 0
//     visible(t, s') = key_mask[b, s'] != 0 and (not causal or s' <= t)   (causal needs T == S)
//     P[t, :] = softmax of s[t, :] over the visible keys, exactly 0 on the others;
//               all 0 when no key is visible (then out_t = 0 too)
//     out_t = Σ_s' P[t, s'] · v_s'
//   backward, per (b, h), from the saved P:
//     dv += Pᵀ · dout
//     dP  = dout · vᵀ
//     dS  = P ⊙ (dP − rowsum(dP ⊙ P))
//     dq += scale · dS · k
//     dk += scale · dSᵀ · q

#include <cstdint>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {

// The problem sizes of one (validated) attention call.
struct AttentionDims {
  std::int64_t batch = 0, t = 0, s = 0, c = 0, heads = 1;
  [[nodiscard]] std::int64_t head_dim() const { return c / heads; }
};

// Sizes from q (B, T, C), k (B, S, C) and n_head; assumes validation has accepted them.
AttentionDims attention_dims(const Shape& q, const Shape& k, const AttentionArgs& args);
// The score scale actually used: args.scale, or 1/sqrt(D) when it is 0.
double attention_scale(const AttentionArgs& args, std::int64_t head_dim);

void validate_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, const Tensor& out,
                        const Tensor& probs, const AttentionArgs& args);
void validate_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs,
                                 const Tensor& dout, const Tensor& dq, const Tensor& dk, const Tensor& dv,
                                 const AttentionArgs& args);
// Work over the (query, key) pairs that can be visible: T·S, or T·(T+1)/2 when causal
// (padding is data, so it is not discounted). masked: a key_mask is read.
OpCost attention_cost(const AttentionDims& d, bool causal, bool masked);
OpCost attention_backward_cost(const AttentionDims& d, bool causal);

}  // namespace tandem::op

namespace tandem::ref {

// out and probs as above; key_mask may be null (every key visible).
template <class T>
void attention(const T* q, const T* k, const T* v, const T* key_mask, T* out, T* probs, const op::AttentionDims& d,
               bool causal, double scale);
// dq, dk, dv += ... from probs as above.
template <class T>
void attention_backward(const T* q, const T* k, const T* v, const T* probs, const T* dout, T* dq, T* dk, T* dv,
                        const op::AttentionDims& d, double scale);

}  // namespace tandem::ref
