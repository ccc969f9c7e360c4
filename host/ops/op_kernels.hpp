#pragma once
// The interface every backend implements: one method per op, forward and backward, with
// the semantics documented in include/tandem/ops.hpp. The public methods validate the
// arguments (host/ops/<family>.cpp, the op's descriptor) and then call the backend's
// do_* implementation, so no backend can skip a check and all report errors alike.

#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem {

class OpKernels {
 public:
  virtual ~OpKernels() = default;
  // "reference", "cpu", ...
  [[nodiscard]] virtual std::string_view name() const = 0;

  void embedding(const Tensor& ids, const Tensor& wte, const Tensor& wpe, Tensor& out);
  void embedding_backward(const Tensor& ids, const Tensor& dout, Tensor& dwte, Tensor& dwpe);
  void matmul(const Tensor& a, const Tensor& b, Tensor& out, const MatMulArgs& args);
  void matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dout, Tensor& da, Tensor& db,
                       const MatMulArgs& args);
  void bias_add(const Tensor& x, const Tensor& bias, Tensor& out);
  void bias_backward(const Tensor& dout, Tensor& dbias);
  void layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out, Tensor& mean,
                 Tensor& rstd);
  void layernorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean,
                          const Tensor& rstd, Tensor& dx, Tensor& dweight, Tensor& dbias);
  void gelu(const Tensor& x, Tensor& out, GeluKind kind);
  void gelu_backward(const Tensor& x, const Tensor& dout, Tensor& dx, GeluKind kind);
  void softmax(const Tensor& x, Tensor& out);
  void softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx);
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, Tensor& out,
                 Tensor& probs, const AttentionArgs& args);
  void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs,
                          const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv, const AttentionArgs& args);
  void residual_add(const Tensor& a, const Tensor& b, Tensor& out);
  void residual_add_backward(const Tensor& dout, Tensor& da, Tensor& db);
  void dropout(const Tensor& x, Tensor& out, const DropoutArgs& args);
  void dropout_backward(const Tensor& dout, Tensor& dx, const DropoutArgs& args);
  void cross_entropy(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& lse,
                     const CrossEntropyArgs& args);
  void cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse, float dloss,
                              Tensor& dlogits, const CrossEntropyArgs& args);
  void mean_pool(const Tensor& x, const Tensor& mask, Tensor& out);
  void mean_pool_backward(const Tensor& dout, const Tensor& mask, Tensor& dx);
  void first_token_pool(const Tensor& x, Tensor& out);
  void first_token_pool_backward(const Tensor& dout, Tensor& dx);
  void lora(const Tensor& x, const Tensor& a, const Tensor& b, Tensor& out, Tensor& xa, const LoraArgs& args);
  void lora_backward(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& xa, const Tensor& dout,
                     Tensor& dx, Tensor& da, Tensor& db, const LoraArgs& args);
  double grad_norm(std::span<const Tensor> grads);
  double clip_grad_norm(std::span<Tensor> grads, float max_norm);
  void adamw(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWArgs& args);

  // True for a backend that records ops to run later: checks of values that earlier ops
  // produce (not shapes) then happen when each op runs.
  [[nodiscard]] virtual bool defers() const noexcept { return false; }

  // Labels the ops issued next with a layer and phase, for placement rules, traces and
  // --explain. Backends that run ops at once ignore it.
  void set_scope(const Scope& scope) noexcept { scope_ = scope; }
  [[nodiscard]] const Scope& scope() const noexcept { return scope_; }

  // Work a model does on the host between ops (a copy, BERT's pooler tanh), reading @p reads
  // and writing @p writes. Backends that run ops at once run it now; a graph recorder defers
  // it as a CPU task ordered by those tensors.
  void host(std::string_view name, std::vector<Tensor> reads, std::vector<Tensor> writes, std::function<void()> work) {
    do_host(name, std::move(reads), std::move(writes), std::move(work));
  }

 protected:
  virtual void do_host(std::string_view /*name*/, std::vector<Tensor> /*reads*/, std::vector<Tensor> /*writes*/,
                       std::function<void()> work) {
    work();
  }

  virtual void do_embedding(const Tensor& ids, const Tensor& wte, const Tensor& wpe, Tensor& out) = 0;
  virtual void do_embedding_backward(const Tensor& ids, const Tensor& dout, Tensor& dwte, Tensor& dwpe) = 0;
  virtual void do_matmul(const Tensor& a, const Tensor& b, Tensor& out, const MatMulArgs& args) = 0;
  virtual void do_matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dout, Tensor& da, Tensor& db,
                                  const MatMulArgs& args) = 0;
  virtual void do_bias_add(const Tensor& x, const Tensor& bias, Tensor& out) = 0;
  virtual void do_bias_backward(const Tensor& dout, Tensor& dbias) = 0;
  virtual void do_layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out,
                            Tensor& mean, Tensor& rstd) = 0;
  virtual void do_layernorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                     const Tensor& rstd, Tensor& dx, Tensor& dweight, Tensor& dbias) = 0;
  virtual void do_gelu(const Tensor& x, Tensor& out, GeluKind kind) = 0;
  virtual void do_gelu_backward(const Tensor& x, const Tensor& dout, Tensor& dx, GeluKind kind) = 0;
  virtual void do_softmax(const Tensor& x, Tensor& out) = 0;
  virtual void do_softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) = 0;
  virtual void do_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, Tensor& out,
                            Tensor& probs, const AttentionArgs& args) = 0;
  virtual void do_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs,
                                     const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv,
                                     const AttentionArgs& args) = 0;
  virtual void do_residual_add(const Tensor& a, const Tensor& b, Tensor& out) = 0;
  virtual void do_residual_add_backward(const Tensor& dout, Tensor& da, Tensor& db) = 0;
  virtual void do_dropout(const Tensor& x, Tensor& out, const DropoutArgs& args) = 0;
  virtual void do_dropout_backward(const Tensor& dout, Tensor& dx, const DropoutArgs& args) = 0;
  virtual void do_cross_entropy(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& lse,
                                const CrossEntropyArgs& args) = 0;
  virtual void do_cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse, float dloss,
                                         Tensor& dlogits, const CrossEntropyArgs& args) = 0;
  virtual void do_mean_pool(const Tensor& x, const Tensor& mask, Tensor& out) = 0;
  virtual void do_mean_pool_backward(const Tensor& dout, const Tensor& mask, Tensor& dx) = 0;
  virtual void do_first_token_pool(const Tensor& x, Tensor& out) = 0;
  virtual void do_first_token_pool_backward(const Tensor& dout, Tensor& dx) = 0;
  virtual void do_lora(const Tensor& x, const Tensor& a, const Tensor& b, Tensor& out, Tensor& xa,
                       const LoraArgs& args) = 0;
  virtual void do_lora_backward(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& xa,
                                const Tensor& dout, Tensor& dx, Tensor& da, Tensor& db, const LoraArgs& args) = 0;
  virtual double do_grad_norm(std::span<const Tensor> grads) = 0;
  virtual void do_scale_grads(std::span<Tensor> grads, float factor) = 0;
  virtual void do_adamw(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWArgs& args) = 0;

 private:
  Scope scope_;
};

// The naive double-accumulating implementation every other backend is tested against.
OpKernels& reference_kernels();

}  // namespace tandem
