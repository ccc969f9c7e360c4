#include "models/layers.hpp"

#include <vector>

namespace tandem::models {

Linear::Linear(ParameterSet& params, const std::string& name, std::int64_t in, std::int64_t out,
               WeightLayout layout)
    : w_(params.add(name + ".weight", layout == WeightLayout::InOut ? Shape{in, out} : Shape{out, in}, true)),
      b_(params.add(name + ".bias", Shape{out}, false)),
      out_(out),
      layout_(layout) {}

Shape Linear::out_shape(const Tensor& x) const {
  std::vector<std::int64_t> dims(x.shape().dims().begin(), x.shape().dims().end());
  dims.back() = out_;
  return Shape(std::span<const std::int64_t>(dims));
}

Tensor Linear::forward(OpKernels& ops, const Tensor& x) {
  x_ = x;
  Tensor xw = Tensor::empty(out_shape(x));
  ops.matmul(x, w_.value, xw, args());
  Tensor y = Tensor::empty(xw.shape());
  ops.bias_add(xw, b_.value, y);
  return y;
}

void Linear::backward(OpKernels& ops, const Tensor& dy, Tensor& dx) {
  ops.bias_backward(dy, b_.grad);
  ops.matmul_backward(x_, w_.value, dy, dx, w_.grad, args());
}

LayerNorm::LayerNorm(ParameterSet& params, const std::string& name, std::int64_t channels, float eps)
    : w_(params.add(name + ".weight", Shape{channels}, false)),
      b_(params.add(name + ".bias", Shape{channels}, false)),
      eps_(eps) {
  w_.value.fill(1.0f);
}

Tensor LayerNorm::forward(OpKernels& ops, const Tensor& x) {
  x_ = x;
  mean_ = Tensor::empty(Shape{x.shape().rows()});
  rstd_ = Tensor::empty(Shape{x.shape().rows()});
  Tensor y = Tensor::empty(x.shape());
  ops.layernorm(x, w_.value, b_.value, eps_, y, mean_, rstd_);
  return y;
}

void LayerNorm::backward(OpKernels& ops, const Tensor& dy, Tensor& dx) {
  ops.layernorm_backward(dy, x_, w_.value, mean_, rstd_, dx, w_.grad, b_.grad);
}

Tensor Attention::forward(OpKernels& ops, const Tensor& q, const Tensor& k, const Tensor& v,
                          const Tensor& key_mask) {
  q_ = q;
  k_ = k;
  v_ = v;
  probs_ = Tensor::empty(Shape{q.dim(0), args_.n_head, q.dim(1), k.dim(1)});
  Tensor out = Tensor::empty(q.shape());
  ops.attention(q, k, v, key_mask, out, probs_, args_);
  return out;
}

void Attention::backward(OpKernels& ops, const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv) {
  ops.attention_backward(q_, k_, v_, probs_, dout, dq, dk, dv, args_);
}

Qkv split_qkv(OpKernels& ops, const Tensor& qkv) {
  const std::int64_t c = qkv.dim(-1) / 3;
  const Shape part{qkv.dim(0), qkv.dim(1), c};
  Qkv out{Tensor::empty(part), Tensor::empty(part), Tensor::empty(part)};
  ops.host("split_qkv", {qkv}, {out.q, out.k, out.v}, [qkv, out, c]() mutable {
    out.q.copy_from(qkv.narrow(-1, 0, c));
    out.k.copy_from(qkv.narrow(-1, c, c));
    out.v.copy_from(qkv.narrow(-1, 2 * c, c));
  });
  return out;
}

Tensor join_qkv(OpKernels& ops, const Qkv& grads) {
  const std::int64_t c = grads.q.dim(-1);
  Tensor out = Tensor::empty(Shape{grads.q.dim(0), grads.q.dim(1), 3 * c});
  ops.host("join_qkv", {grads.q, grads.k, grads.v}, {out}, [grads, out, c] {
    out.narrow(-1, 0, c).copy_from(grads.q);
    out.narrow(-1, c, c).copy_from(grads.k);
    out.narrow(-1, 2 * c, c).copy_from(grads.v);
  });
  return out;
}

Tensor residual(OpKernels& ops, const Tensor& a, const Tensor& b) {
  Tensor out = Tensor::empty(a.shape());
  ops.residual_add(a, b, out);
  return out;
}

ResidualGrads residual_backward(OpKernels& ops, const Tensor& dout) {
  ResidualGrads g{Tensor::zeros(dout.shape()), Tensor::zeros(dout.shape())};
  ops.residual_add_backward(dout, g.da, g.db);
  return g;
}

}  // namespace tandem::models
