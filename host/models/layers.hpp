#pragma once
// Building blocks shared by GPT-2 and BERT. Each block registers its parameters, keeps what
// its forward pass saved for the backward pass, and runs every op through the OpKernels it is
// given. backward() follows the op convention: it *adds* into the input gradient it is passed.

#include <cstdint>
#include <string>

#include "models/parameters.hpp"
#include "ops/op_kernels.hpp"

namespace tandem::models {

// How a checkpoint stores a projection's weight: GPT-2's Conv1D keeps (in, out), nn.Linear
// keeps (out, in) and so multiplies with the weight transposed.
enum class WeightLayout { InOut, OutIn };

// y (..., out) = x (..., in) · W + b.
class Linear {
 public:
  Linear(ParameterSet& params, const std::string& name, std::int64_t in, std::int64_t out, WeightLayout layout);
  [[nodiscard]] Tensor forward(OpKernels& ops, const Tensor& x);
  // dx (..., in) += dy · Wᵀ; the weight and bias gradients accumulate. dx may be undefined.
  void backward(OpKernels& ops, const Tensor& dy, Tensor& dx);
  [[nodiscard]] const Tensor& weight() const noexcept { return w_.value; }

 private:
  [[nodiscard]] MatMulArgs args() const noexcept { return {.trans_a = false, .trans_b = layout_ == WeightLayout::OutIn}; }
  [[nodiscard]] Shape out_shape(const Tensor& x) const;

  ParamRef w_, b_;
  std::int64_t out_;
  WeightLayout layout_;
  Tensor x_;  // saved input (..., in)
};

// Row-wise LayerNorm over the last dimension.
class LayerNorm {
 public:
  // @p name is the module's name, e.g. "h.0.ln_1"; parameters are name.weight and name.bias.
  LayerNorm(ParameterSet& params, const std::string& name, std::int64_t channels, float eps);
  [[nodiscard]] Tensor forward(OpKernels& ops, const Tensor& x);
  // dx += ∂loss/∂x; the weight and bias gradients accumulate.
  void backward(OpKernels& ops, const Tensor& dy, Tensor& dx);

 private:
  ParamRef w_, b_;
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
