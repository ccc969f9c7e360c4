#pragma once
/// @file ops.hpp
/// The fine-tuning op set, run on the CPU backend.
///
/// Conventions shared by every op:
/// - Tensors are f32 and contiguous unless an argument says i32 (token ids, targets).
/// - Forward ops overwrite their outputs, which must be allocated with the exact shape.
/// - Backward ops *add* into their gradient outputs (dx += ...), so a tensor used twice
///   (GPT-2's tied embedding) collects both gradients. An undefined gradient tensor
///   (Tensor()) means "not needed" where the argument says it may be skipped.
/// - Bad shapes, dtypes, empty tensors and out-of-range values throw tandem::Error with a
///   message naming the op and the shapes involved.
/// Shapes are written as (B, T, C): batch, sequence, channels; N is rows = product of all
/// but the last dimension.

#include <cstdint>
#include <span>

#include "tandem/export.hpp"
#include "tandem/tensor.hpp"

namespace tandem {
inline namespace v1 {

/// Which GELU: the tanh approximation (GPT-2, "gelu_new") or the exact erf form (BERT).
enum class GeluKind {
  Tanh,  ///< 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), GPT-2's "gelu_new".
  Erf,   ///< 0.5·x·(1 + erf(x/√2)), the exact form.
};

/// out = alpha * op(a) · op(b) + beta * out, where op transposes when asked.
struct MatMulArgs {
  bool trans_a = false;  ///< Use the transpose of a.
  bool trans_b = false;  ///< Use the transpose of b.
  float alpha = 1.0f;    ///< Scale of the product.
  float beta = 0.0f;     ///< Scale of the previous contents of out.
};

/// Scaled dot-product attention over heads interleaved in the channel dimension:
/// head h owns channels [h·D, (h+1)·D) of q, k and v, D = C / n_head.
struct AttentionArgs {
  int n_head = 1;        ///< Number of heads H; must divide C.
  bool causal = false;   ///< Mask keys after the query position.
  /// Score scale; 0 means 1/sqrt(D).
  float scale = 0.0f;
};

/// Inverted dropout: keep with probability 1-p and scale kept values by 1/(1-p). The mask
/// is a pure function of (seed, element index), so it is reproducible on any device and
/// thread count and is regenerated, not stored, for the backward pass.
struct DropoutArgs {
  float p = 0.0f;          ///< Drop probability in [0, 1).
  std::uint64_t seed = 0;  ///< Seed of the mask.
};

/// Cross-entropy over rows of logits against integer targets.
struct CrossEntropyArgs {
  /// Targets equal to this are skipped; the mean is over the others.
  std::int32_t ignore_index = -100;
};

/// LoRA update out += scale · (x·A)·B with A (Cin, r) and B (r, Cout).
struct LoraArgs {
  float scale = 1.0f;  ///< Usually alpha / r.
};

/// AdamW with decoupled weight decay (Loshchilov & Hutter) and bias correction.
struct AdamWArgs {
  float lr = 1e-3f;            ///< Learning rate.
  float beta1 = 0.9f;          ///< Decay of the first moment.
  float beta2 = 0.999f;        ///< Decay of the second moment.
  float eps = 1e-8f;           ///< Added to the root of the second moment.
  float weight_decay = 0.0f;   ///< Decoupled weight decay (applied as lr · wd · param).
  /// 1-based step number, used for bias correction.
  std::int64_t step = 1;
};

/// The op functions, each a thin front over the CPU backend.
namespace ops {

/// out (B,T,C) = wte[ids[b,t]] + wpe[t]. ids is i32 (B,T) with values in [0, V); wte is
/// (V,C); wpe is (P,C) with P >= T, or undefined for no position term.
TANDEM_API void embedding(const Tensor& ids, const Tensor& wte, const Tensor& wpe, Tensor& out);
/// dwte[ids[b,t]] += dout[b,t]; dwpe[t] += Σ_b dout[b,t]. dwpe may be undefined.
TANDEM_API void embedding_backward(const Tensor& ids, const Tensor& dout, Tensor& dwte, Tensor& dwpe);

/// a is (..., M, K) or (..., K, M) when trans_a; b is (..., K, N) or (..., N, K) when
/// trans_b, with the same leading dims as a, or rank 2 (shared by every batch entry);
/// out is (..., M, N).
TANDEM_API void matmul(const Tensor& a, const Tensor& b, Tensor& out, const MatMulArgs& args = {});
/// Gradients of matmul (beta ignored): da += ∂/∂a, db += ∂/∂b. Either may be undefined.
TANDEM_API void matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dout, Tensor& da, Tensor& db,
                     const MatMulArgs& args = {});

/// out (N,C) = x (N,C) + bias (C), broadcast over rows.
TANDEM_API void bias_add(const Tensor& x, const Tensor& bias, Tensor& out);
/// dbias (C) += column sums of dout (N,C).
TANDEM_API void bias_backward(const Tensor& dout, Tensor& dbias);

/// Row-wise LayerNorm of x (N,C) with weight and bias (C); saves mean (N) and rstd (N).
TANDEM_API void layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out, Tensor& mean,
               Tensor& rstd);
/// Gradients of layernorm from the saved mean and rstd; dweight and dbias may be undefined.
TANDEM_API void layernorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean,
                        const Tensor& rstd, Tensor& dx, Tensor& dweight, Tensor& dbias);

/// Element-wise GELU of x into out (same shape).
TANDEM_API void gelu(const Tensor& x, Tensor& out, GeluKind kind);
/// dx += gelu'(x) · dout.
TANDEM_API void gelu_backward(const Tensor& x, const Tensor& dout, Tensor& dx, GeluKind kind);

/// Row-wise softmax over the last dimension.
TANDEM_API void softmax(const Tensor& x, Tensor& out);
/// dx += y ⊙ (dy − Σ(dy ⊙ y)) per row, from the softmax output y.
TANDEM_API void softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx);

/// Fused scaled dot-product attention. q (B,T,C), k and v (B,S,C), out (B,T,C); probs
/// (B,H,T,S) receives the attention weights for the backward pass. key_mask, if defined,
/// is f32 (B,S) with 1 for keys to attend to and 0 for padding. With causal, query t sees
/// keys s <= t (T == S). A query with no visible key gets zero weights and output.
TANDEM_API void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, Tensor& out, Tensor& probs,
               const AttentionArgs& args);
/// Gradients of attention from the saved probs: dq, dk, dv += ....
TANDEM_API void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs, const Tensor& dout,
                        Tensor& dq, Tensor& dk, Tensor& dv, const AttentionArgs& args);

/// out = a + b (same shapes): the residual connection.
TANDEM_API void residual_add(const Tensor& a, const Tensor& b, Tensor& out);
/// da += dout; db += dout.
TANDEM_API void residual_add_backward(const Tensor& dout, Tensor& da, Tensor& db);

/// out = x ⊙ mask / (1-p), mask drawn from (seed, index); p in [0, 1).
TANDEM_API void dropout(const Tensor& x, Tensor& out, const DropoutArgs& args);
/// dx += dout ⊙ mask / (1-p) with the same mask as the forward pass.
TANDEM_API void dropout_backward(const Tensor& dout, Tensor& dx, const DropoutArgs& args);

/// loss (1) = mean over rows with target != ignore_index of −log softmax(logits)[target].
/// logits (N,V) f32; targets (N) i32 in [0,V) or ignore_index; lse (N) saves each row's
/// log-sum-exp. All rows ignored gives loss 0. Non-finite logits are an error.
TANDEM_API void cross_entropy(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& lse,
                   const CrossEntropyArgs& args = {});
/// dlogits += dloss · (softmax(logits) − onehot(target)) / count, for non-ignored rows.
TANDEM_API void cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse, float dloss,
                            Tensor& dlogits, const CrossEntropyArgs& args = {});

/// out (B,C) = mean over t of x (B,T,C), weighted by mask (B,T) f32 when defined (mean
/// over the unmasked tokens; a row with no token gives zeros).
TANDEM_API void mean_pool(const Tensor& x, const Tensor& mask, Tensor& out);
/// dx (B,T,C) += dout (B,C) spread over the tokens that mean_pool averaged.
TANDEM_API void mean_pool_backward(const Tensor& dout, const Tensor& mask, Tensor& dx);
/// out (B,C) = x[:, 0, :] (BERT's [CLS] pooling).
TANDEM_API void first_token_pool(const Tensor& x, Tensor& out);
/// dx[:, 0, :] += dout.
TANDEM_API void first_token_pool_backward(const Tensor& dout, Tensor& dx);

/// out (N,Cout) += scale · (x (N,Cin) · a (Cin,r)) · b (r,Cout); xa (N,r) saves x·a.
TANDEM_API void lora(const Tensor& x, const Tensor& a, const Tensor& b, Tensor& out, Tensor& xa, const LoraArgs& args);
/// Gradients of lora: dx (may be undefined), da, db += ....
TANDEM_API void lora_backward(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& xa, const Tensor& dout,
                   Tensor& dx, Tensor& da, Tensor& db, const LoraArgs& args);

/// L2 norm of all elements of all @p grads together, accumulated in double.
TANDEM_API double grad_norm(std::span<const Tensor> grads);
/// Scales every gradient by max_norm / norm when the global norm exceeds max_norm and
/// returns the norm before clipping. A non-finite norm is an error and changes nothing.
TANDEM_API double clip_grad_norm(std::span<Tensor> grads, float max_norm);

/// One fused AdamW step on param with grad and moments m, v (all the same shape).
TANDEM_API void adamw(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWArgs& args);

}  // namespace ops
}  // namespace v1
}  // namespace tandem
