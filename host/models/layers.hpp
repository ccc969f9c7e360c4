#pragma once
// Building blocks shared by GPT-2 and BERT. Each block registers its parameters, keeps what
// its forward pass saved for the backward pass, and runs every op through the OpKernels it is
// given. backward() follows the op convention: it *adds* into the input gradient it is passed.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "models/parameters.hpp"
#include "ops/op_kernels.hpp"

namespace tandem::models {

// How a checkpoint stores a projection's weight: GPT-2's Conv1D keeps (in, out), nn.Linear
// keeps (out, in) and so multiplies with the weight transposed.
enum class WeightLayout { InOut, OutIn };

// A registered parameter together with its place in the registry, so that a layer can read its
// trainable flag when it issues the backward ops (the flag may change after construction, e.g.
// when LoRA freezes the base model). Frozen parameters get no gradient computed at all.
struct TrackedParam : ParamRef {
  ParameterSet* set = nullptr;
  std::size_t index = 0;
  [[nodiscard]] bool trainable() const;
  // grad when trainable, else an undefined tensor ("not needed" for the backward ops).
  [[nodiscard]] Tensor grad_if_trainable() const;
};
[[nodiscard]] TrackedParam add_tracked(ParameterSet& params, std::string name, const Shape& shape, bool decay);

// A LoRA adapter on a Linear (Hu et al. 2021): y += scale · (dropout(x) · A) · B with A (in, r)
// and B (r, out). Parameters are named <name>.lora_A.weight / .lora_B.weight in the layout
// above (PEFT stores their transposes; host/train/lora.cpp converts).
struct LoraAdapter {
  TrackedParam a, b;
  float scale = 1.0f;    // alpha / r
  float dropout = 0.0f;     // on x before A
  bool training = false;    // dropout only applies in training mode (like torch's module.train())
  std::uint64_t seed = 0;   // dropout mask seed of the next forward
};

// y (..., out) = x (..., in) · W + b.
class Linear {
 public:
  Linear(ParameterSet& params, const std::string& name, std::int64_t in, std::int64_t out, WeightLayout layout);
  [[nodiscard]] Tensor forward(OpKernels& ops, const Tensor& x);
  // dx (..., in) += dy · Wᵀ (+ the adapter's share); the gradients of trainable parameters
  // accumulate, frozen ones are not computed. dx may be undefined.
  void backward(OpKernels& ops, const Tensor& dy, Tensor& dx);
  [[nodiscard]] const Tensor& weight() const noexcept { return w_.value; }

  // The module's Hugging Face name, e.g. "transformer.h.0.attn.c_attn".
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] WeightLayout layout() const noexcept { return layout_; }
  [[nodiscard]] std::int64_t in_features() const noexcept { return in_; }
  [[nodiscard]] std::int64_t out_features() const noexcept { return out_; }
  // Registers a zero A (in, r) and B (r, out) named "<adapter_prefix><name>.lora_A.weight" and
  // "...lora_B.weight" (no weight decay) and uses them from the next forward on. One adapter per
  // Linear: a second call is an error.
  LoraAdapter& add_lora(const std::string& adapter_prefix, std::int64_t rank, float scale, float dropout);
  // The adapter, or nullptr.
  [[nodiscard]] LoraAdapter* lora() noexcept { return lora_ ? &*lora_ : nullptr; }

 private:
  [[nodiscard]] MatMulArgs args() const noexcept { return {.trans_a = false, .trans_b = layout_ == WeightLayout::OutIn}; }
  [[nodiscard]] Shape out_shape(const Tensor& x) const;
  void lora_forward(OpKernels& ops, const Tensor& x, Tensor& y);
  void lora_backward(OpKernels& ops, const Tensor& dy, Tensor& dx);

  ParameterSet* params_;
  std::string name_;
  TrackedParam w_, b_;
  std::int64_t in_, out_;
  WeightLayout layout_;
  std::optional<LoraAdapter> lora_;
  Tensor x_;         // saved input (..., in)
  Tensor lora_x_;    // saved adapter input: x after LoRA dropout (..., in)
  Tensor lora_xa_;   // saved x·A (rows, r)
  DropoutArgs lora_dropout_;  // the mask of the last forward
};

// Row-wise LayerNorm over the last dimension.
class LayerNorm {
 public:
  // @p name is the module's name, e.g. "h.0.ln_1"; parameters are name.weight and name.bias.
  LayerNorm(ParameterSet& params, const std::string& name, std::int64_t channels, float eps);
  [[nodiscard]] Tensor forward(OpKernels& ops, const Tensor& x);
  // dx += ∂loss/∂x; the weight and bias gradients accumulate when trainable.
  void backward(OpKernels& ops, const Tensor& dy, Tensor& dx);

 private:
  TrackedParam w_, b_;
  float eps_;
  Tensor x_, mean_, rstd_;  // saved: x (..., C), mean and rstd (rows)
};

// Fused multi-head scaled dot-product attention over q, k, v (B, T, C), heads interleaved in C.
class Attention {
 public:
  Attention(std::int64_t heads, bool causal) : args_{.n_head = static_cast<int>(heads), .causal = causal} {}
  // key_mask (B, T) f32 (1 = attend, 0 = padding) or undefined. Returns (B, T, C).
  [[nodiscard]] Tensor forward(OpKernels& ops, const Tensor& q, const Tensor& k, const Tensor& v,
                               const Tensor& key_mask);
  // dq, dk, dv (B, T, C) += ∂loss/∂q, ∂k, ∂v.
  void backward(OpKernels& ops, const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv);

 private:
  AttentionArgs args_;
  Tensor q_, k_, v_, probs_;  // saved inputs and weights (B, H, T, T)
};

// Splits a fused projection (B, T, 3C) into new contiguous q, k, v (B, T, C), and joins their
// gradients back into a new (B, T, 3C). Host work issued through @p ops: the op set has no
// strided split.
struct Qkv {
  Tensor q, k, v;
};
[[nodiscard]] Qkv split_qkv(OpKernels& ops, const Tensor& qkv);
[[nodiscard]] Tensor join_qkv(OpKernels& ops, const Qkv& grads);

// out = a + b (the residual connection) into a new tensor.
[[nodiscard]] Tensor residual(OpKernels& ops, const Tensor& a, const Tensor& b);
// The gradients of both residual inputs, as new tensors (da, db each = dout).
struct ResidualGrads {
  Tensor da, db;
};
[[nodiscard]] ResidualGrads residual_backward(OpKernels& ops, const Tensor& dout);

}  // namespace tandem::models
