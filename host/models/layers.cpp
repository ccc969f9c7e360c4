#include "models/layers.hpp"

#include <utility>
#include <vector>

#include "tandem/error.hpp"

namespace tandem::models {

bool TrackedParam::trainable() const { return set->all()[index].trainable; }

Tensor TrackedParam::grad_if_trainable() const { return trainable() ? grad : Tensor(); }

TrackedParam add_tracked(ParameterSet& params, std::string name, const Shape& shape, bool decay) {
  TrackedParam t;
  t.set = &params;
  t.index = params.all().size();
  static_cast<ParamRef&>(t) = params.add(std::move(name), shape, decay);
  return t;
}

Linear::Linear(ParameterSet& params, const std::string& name, std::int64_t in, std::int64_t out,
               WeightLayout layout)
    : params_(&params),
      name_(name),
      w_(add_tracked(params, name + ".weight", layout == WeightLayout::InOut ? Shape{in, out} : Shape{out, in}, true)),
      b_(add_tracked(params, name + ".bias", Shape{out}, false)),
      in_(in),
      out_(out),
      layout_(layout) {}

LoraAdapter& Linear::add_lora(const std::string& adapter_prefix, std::int64_t rank, float scale, float dropout) {
  if (lora_) throw Error("lora: module '" + name_ + "' already has an adapter");
  if (rank < 1) throw Error("lora: rank " + std::to_string(rank) + " for module '" + name_ + "' must be >= 1");
  if (!(dropout >= 0.0f && dropout < 1.0f))
    throw Error("lora: dropout " + std::to_string(dropout) + " for module '" + name_ + "' must be in [0, 1)");
  const std::string stem = adapter_prefix + name_;
  LoraAdapter adapter;
  adapter.a = add_tracked(*params_, stem + ".lora_A.weight", Shape{in_, rank}, false);
  adapter.b = add_tracked(*params_, stem + ".lora_B.weight", Shape{rank, out_}, false);
  adapter.scale = scale;
  adapter.dropout = dropout;
  lora_ = adapter;
  return *lora_;
}

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
  if (lora_) lora_forward(ops, x, y);
  return y;
}

void Linear::lora_forward(OpKernels& ops, const Tensor& x, Tensor& y) {
  lora_x_ = x;
  lora_dropout_ = {.p = lora_->training ? lora_->dropout : 0.0f, .seed = lora_->seed};
  if (lora_dropout_.p > 0.0f) {
    lora_x_ = Tensor::empty(x.shape());
    ops.dropout(x, lora_x_, lora_dropout_);
  }
  lora_xa_ = Tensor::empty(Shape{x.shape().rows(), lora_->a.value.dim(1)});  // (rows, r)
  ops.lora(lora_x_, lora_->a.value, lora_->b.value, y, lora_xa_, {.scale = lora_->scale});
}

void Linear::backward(OpKernels& ops, const Tensor& dy, Tensor& dx) {
  if (b_.trainable()) ops.bias_backward(dy, b_.grad);
  Tensor dw = w_.grad_if_trainable();
  if (dx.defined() || dw.defined()) ops.matmul_backward(x_, w_.value, dy, dx, dw, args());
  if (lora_) lora_backward(ops, dy, dx);
}

// The adapter's A and B gradients are always computed (lora_backward needs both); dx gets the
// adapter path through the dropout mask of the forward pass.
void Linear::lora_backward(OpKernels& ops, const Tensor& dy, Tensor& dx) {
  const LoraArgs args{.scale = lora_->scale};
  if (lora_dropout_.p == 0.0f || !dx.defined()) {
    ops.lora_backward(lora_x_, lora_->a.value, lora_->b.value, lora_xa_, dy, dx, lora_->a.grad, lora_->b.grad, args);
    return;
  }
  Tensor dxd = Tensor::zeros(lora_x_.shape());  // d(loss)/d(dropout(x)) (..., in)
  ops.lora_backward(lora_x_, lora_->a.value, lora_->b.value, lora_xa_, dy, dxd, lora_->a.grad, lora_->b.grad, args);
  ops.dropout_backward(dxd, dx, lora_dropout_);
}

LayerNorm::LayerNorm(ParameterSet& params, const std::string& name, std::int64_t channels, float eps)
    : w_(add_tracked(params, name + ".weight", Shape{channels}, false)),
      b_(add_tracked(params, name + ".bias", Shape{channels}, false)),
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
  Tensor dw = w_.grad_if_trainable(), db = b_.grad_if_trainable();
  ops.layernorm_backward(dy, x_, w_.value, mean_, rstd_, dx, dw, db);
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
