#include "graph/recorder.hpp"

#include <utility>

#include "ops/families.hpp"
#include "tandem/error.hpp"

namespace tandem::graph {

void Recorder::add(OpKind kind, OpCost cost, std::vector<Tensor> reads, std::vector<Tensor> writes,
                   std::function<void(OpKernels&)> run) {
  Task t;
  t.kind = kind;
  t.name = std::string(op_name(kind));
  t.scope = scope();
  t.cost = cost;
  for (const Tensor& r : reads)
    if (r.defined()) t.reads.push_back(region_of(r));
  for (const Tensor& w : writes)
    if (w.defined()) t.writes.push_back(region_of(w));
  t.keep = std::move(reads);
  t.keep.insert(t.keep.end(), writes.begin(), writes.end());
  t.run = std::move(run);
  graph_.add(std::move(t));
}

void Recorder::do_host(std::string_view name, std::vector<Tensor> reads, std::vector<Tensor> writes,
                       std::function<void()> work) {
  Task t;
  t.kind = OpKind::Host;
  t.host_only = true;
  t.name = std::string(name);
  t.scope = scope();
  for (const Tensor& r : reads) {
    t.reads.push_back(region_of(r));
    t.cost.bytes += double(r.nbytes());
  }
  for (const Tensor& w : writes) {
    t.writes.push_back(region_of(w));
    t.cost.bytes += double(w.nbytes());
  }
  t.keep = std::move(reads);
  t.keep.insert(t.keep.end(), writes.begin(), writes.end());
  t.run = [work = std::move(work)](OpKernels&) { work(); };
  graph_.add(std::move(t));
}

void Recorder::do_embedding(const Tensor& ids, const Tensor& wte, const Tensor& wpe, Tensor& out) {
  add(OpKind::Embedding, op::embedding_cost(ids.shape(), wte.dim(1), wpe.defined()), {ids, wte, wpe}, {out},
      [=](OpKernels& k) mutable { k.embedding(ids, wte, wpe, out); });
}

void Recorder::do_embedding_backward(const Tensor& ids, const Tensor& dout, Tensor& dwte, Tensor& dwpe) {
  add(OpKind::EmbeddingBackward, op::embedding_backward_cost(ids.shape(), dout.dim(dout.rank() - 1), dwpe.defined()),
      {ids, dout}, {dwte, dwpe}, [=](OpKernels& k) mutable { k.embedding_backward(ids, dout, dwte, dwpe); });
}

void Recorder::do_matmul(const Tensor& a, const Tensor& b, Tensor& out, const MatMulArgs& args) {
  // beta != 0 reads out too; listing it as written orders it after its producer.
  add(OpKind::MatMul, op::matmul_cost(a.shape(), b.shape(), args), {a, b}, {out},
      [=](OpKernels& k) mutable { k.matmul(a, b, out, args); });
}

void Recorder::do_matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dout, Tensor& da, Tensor& db,
                                  const MatMulArgs& args) {
  add(OpKind::MatMulBackward, op::matmul_backward_cost(a.shape(), b.shape(), args, da.defined(), db.defined()),
      {a, b, dout}, {da, db}, [=](OpKernels& k) mutable { k.matmul_backward(a, b, dout, da, db, args); });
}

void Recorder::do_bias_add(const Tensor& x, const Tensor& bias, Tensor& out) {
  add(OpKind::BiasAdd, op::bias_add_cost(x.shape()), {x, bias}, {out},
      [=](OpKernels& k) mutable { k.bias_add(x, bias, out); });
}

void Recorder::do_bias_backward(const Tensor& dout, Tensor& dbias) {
  add(OpKind::BiasBackward, op::bias_backward_cost(dout.shape()), {dout}, {dbias},
      [=](OpKernels& k) mutable { k.bias_backward(dout, dbias); });
}

void Recorder::do_layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out,
                            Tensor& mean, Tensor& rstd) {
  add(OpKind::LayerNorm, op::layernorm_cost(x.shape()), {x, weight, bias}, {out, mean, rstd},
      [=](OpKernels& k) mutable { k.layernorm(x, weight, bias, eps, out, mean, rstd); });
}

void Recorder::do_layernorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                     const Tensor& rstd, Tensor& dx, Tensor& dweight, Tensor& dbias) {
  add(OpKind::LayerNormBackward, op::layernorm_backward_cost(x.shape(), dweight.defined(), dbias.defined()),
      {dout, x, weight, mean, rstd}, {dx, dweight, dbias},
      [=](OpKernels& k) mutable { k.layernorm_backward(dout, x, weight, mean, rstd, dx, dweight, dbias); });
}

void Recorder::do_gelu(const Tensor& x, Tensor& out, GeluKind kind) {
  add(OpKind::Gelu, op::gelu_cost(x.shape(), kind), {x}, {out}, [=](OpKernels& k) mutable { k.gelu(x, out, kind); });
}

void Recorder::do_gelu_backward(const Tensor& x, const Tensor& dout, Tensor& dx, GeluKind kind) {
  add(OpKind::GeluBackward, op::gelu_backward_cost(x.shape(), kind), {x, dout}, {dx},
      [=](OpKernels& k) mutable { k.gelu_backward(x, dout, dx, kind); });
}

void Recorder::do_softmax(const Tensor& x, Tensor& out) {
  add(OpKind::Softmax, op::softmax_cost(x.shape()), {x}, {out}, [=](OpKernels& k) mutable { k.softmax(x, out); });
}

void Recorder::do_softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  add(OpKind::SoftmaxBackward, op::softmax_backward_cost(y.shape()), {y, dy}, {dx},
      [=](OpKernels& k) mutable { k.softmax_backward(y, dy, dx); });
}

void Recorder::do_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, Tensor& out,
                            Tensor& probs, const AttentionArgs& args) {
  const op::AttentionDims dims = op::attention_dims(q.shape(), k.shape(), args);
  add(OpKind::Attention, op::attention_cost(dims, args.causal, key_mask.defined()), {q, k, v, key_mask}, {out, probs},
      [=](OpKernels& ops) mutable { ops.attention(q, k, v, key_mask, out, probs, args); });
}

void Recorder::do_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs,
                                     const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv,
                                     const AttentionArgs& args) {
  const op::AttentionDims dims = op::attention_dims(q.shape(), k.shape(), args);
  add(OpKind::AttentionBackward, op::attention_backward_cost(dims, args.causal), {q, k, v, probs, dout}, {dq, dk, dv},
      [=](OpKernels& ops) mutable { ops.attention_backward(q, k, v, probs, dout, dq, dk, dv, args); });
}

void Recorder::do_residual_add(const Tensor& a, const Tensor& b, Tensor& out) {
  add(OpKind::ResidualAdd, op::residual_add_cost(a.shape()), {a, b}, {out},
      [=](OpKernels& k) mutable { k.residual_add(a, b, out); });
}

void Recorder::do_residual_add_backward(const Tensor& dout, Tensor& da, Tensor& db) {
  add(OpKind::ResidualAddBackward, op::residual_add_backward_cost(dout.shape()), {dout}, {da, db},
      [=](OpKernels& k) mutable { k.residual_add_backward(dout, da, db); });
}

void Recorder::do_dropout(const Tensor& x, Tensor& out, const DropoutArgs& args) {
  add(OpKind::Dropout, op::dropout_cost(x.shape()), {x}, {out}, [=](OpKernels& k) mutable { k.dropout(x, out, args); });
}

void Recorder::do_dropout_backward(const Tensor& dout, Tensor& dx, const DropoutArgs& args) {
  add(OpKind::DropoutBackward, op::dropout_backward_cost(dout.shape()), {dout}, {dx},
      [=](OpKernels& k) mutable { k.dropout_backward(dout, dx, args); });
}

void Recorder::do_cross_entropy(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& lse,
                                const CrossEntropyArgs& args) {
  add(OpKind::CrossEntropy, op::cross_entropy_cost(logits.dim(0), logits.dim(1)), {logits, targets}, {loss, lse},
      [=](OpKernels& k) mutable { k.cross_entropy(logits, targets, loss, lse, args); });
}

void Recorder::do_cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse, float dloss,
                                         Tensor& dlogits, const CrossEntropyArgs& args) {
  add(OpKind::CrossEntropyBackward, op::cross_entropy_backward_cost(logits.dim(0), logits.dim(1)),
      {logits, targets, lse}, {dlogits},
      [=](OpKernels& k) mutable { k.cross_entropy_backward(logits, targets, lse, dloss, dlogits, args); });
}

void Recorder::do_mean_pool(const Tensor& x, const Tensor& mask, Tensor& out) {
  add(OpKind::MeanPool, op::mean_pool_cost(x.shape(), mask.defined()), {x, mask}, {out},
      [=](OpKernels& k) mutable { k.mean_pool(x, mask, out); });
}

void Recorder::do_mean_pool_backward(const Tensor& dout, const Tensor& mask, Tensor& dx) {
  add(OpKind::MeanPoolBackward, op::mean_pool_backward_cost(dx.shape(), mask.defined()), {dout, mask}, {dx},
      [=](OpKernels& k) mutable { k.mean_pool_backward(dout, mask, dx); });
}

void Recorder::do_first_token_pool(const Tensor& x, Tensor& out) {
  add(OpKind::FirstTokenPool, op::first_token_pool_cost(x.shape()), {x}, {out},
      [=](OpKernels& k) mutable { k.first_token_pool(x, out); });
}

void Recorder::do_first_token_pool_backward(const Tensor& dout, Tensor& dx) {
  add(OpKind::FirstTokenPoolBackward, op::first_token_pool_backward_cost(dx.shape()), {dout}, {dx},
      [=](OpKernels& k) mutable { k.first_token_pool_backward(dout, dx); });
}

void Recorder::do_lora(const Tensor& x, const Tensor& a, const Tensor& b, Tensor& out, Tensor& xa,
                       const LoraArgs& args) {
  const std::int64_t n = x.numel() / x.dim(x.rank() - 1);
  add(OpKind::Lora, op::lora_cost(n, a.dim(0), a.dim(1), b.dim(1)), {x, a, b}, {out, xa},
      [=](OpKernels& k) mutable { k.lora(x, a, b, out, xa, args); });
}

void Recorder::do_lora_backward(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& xa,
                                const Tensor& dout, Tensor& dx, Tensor& da, Tensor& db, const LoraArgs& args) {
  const std::int64_t n = x.numel() / x.dim(x.rank() - 1);
  add(OpKind::LoraBackward, op::lora_backward_cost(n, a.dim(0), a.dim(1), b.dim(1), dx.defined()),
      {x, a, b, xa, dout}, {dx, da, db},
      [=](OpKernels& k) mutable { k.lora_backward(x, a, b, xa, dout, dx, da, db, args); });
}

double Recorder::do_grad_norm(std::span<const Tensor>) {
  throw Error("grad_norm: its value is needed at once, so it cannot be recorded into a step graph",
              ErrorCategory::Internal);
}

void Recorder::do_scale_grads(std::span<Tensor>, float) {
  throw Error("clip_grad_norm: cannot be recorded into a step graph", ErrorCategory::Internal);
}

void Recorder::do_adamw(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWArgs& args) {
  add(OpKind::AdamW, op::adamw_cost(param.numel()), {grad}, {param, m, v},
      [=](OpKernels& k) mutable { k.adamw(param, grad, m, v, args); });
}

}  // namespace tandem::graph
