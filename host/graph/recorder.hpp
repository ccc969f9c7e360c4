#pragma once
// A backend that runs nothing: every op call becomes a task of a TaskGraph, with the
// arguments captured, so a model's forward and backward passes (which only know OpKernels&)
// turn into the step's graph. Validation still happens at each call, so bad shapes are
// reported where the model issues the op. grad_norm returns a value at once and so cannot be
// recorded; clip_grad_norm likewise (the trainer runs clipping between steps).

#include <utility>

#include "graph/task_graph.hpp"
#include "ops/op_kernels.hpp"

namespace tandem::graph {

class Recorder final : public OpKernels {
 public:
  [[nodiscard]] std::string_view name() const override { return "recorder"; }
  [[nodiscard]] bool defers() const noexcept override { return true; }
  [[nodiscard]] TaskGraph& graph() noexcept { return graph_; }
  // The graph recorded so far; the recorder starts empty again.
  [[nodiscard]] TaskGraph take() { return std::exchange(graph_, {}); }

 protected:
  void do_host(std::string_view name, std::vector<Tensor> reads, std::vector<Tensor> writes,
               std::function<void()> work) override;
  void do_embedding(const Tensor& ids, const Tensor& wte, const Tensor& wpe, Tensor& out) override;
  void do_embedding_backward(const Tensor& ids, const Tensor& dout, Tensor& dwte, Tensor& dwpe) override;
  void do_matmul(const Tensor& a, const Tensor& b, Tensor& out, const MatMulArgs& args) override;
  void do_matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dout, Tensor& da, Tensor& db,
                          const MatMulArgs& args) override;
  void do_bias_add(const Tensor& x, const Tensor& bias, Tensor& out) override;
  void do_bias_backward(const Tensor& dout, Tensor& dbias) override;
  void do_layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out, Tensor& mean,
                    Tensor& rstd) override;
  void do_layernorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean,
                             const Tensor& rstd, Tensor& dx, Tensor& dweight, Tensor& dbias) override;
  void do_gelu(const Tensor& x, Tensor& out, GeluKind kind) override;
  void do_gelu_backward(const Tensor& x, const Tensor& dout, Tensor& dx, GeluKind kind) override;
  void do_softmax(const Tensor& x, Tensor& out) override;
  void do_softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) override;
  void do_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, Tensor& out,
                    Tensor& probs, const AttentionArgs& args) override;
  void do_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs,
                             const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv,
                             const AttentionArgs& args) override;
  void do_residual_add(const Tensor& a, const Tensor& b, Tensor& out) override;
  void do_residual_add_backward(const Tensor& dout, Tensor& da, Tensor& db) override;
  void do_dropout(const Tensor& x, Tensor& out, const DropoutArgs& args) override;
  void do_dropout_backward(const Tensor& dout, Tensor& dx, const DropoutArgs& args) override;
  void do_cross_entropy(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& lse,
                        const CrossEntropyArgs& args) override;
  void do_cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse, float dloss,
                                 Tensor& dlogits, const CrossEntropyArgs& args) override;
  void do_mean_pool(const Tensor& x, const Tensor& mask, Tensor& out) override;
  void do_mean_pool_backward(const Tensor& dout, const Tensor& mask, Tensor& dx) override;
  void do_first_token_pool(const Tensor& x, Tensor& out) override;
  void do_first_token_pool_backward(const Tensor& dout, Tensor& dx) override;
  void do_lora(const Tensor& x, const Tensor& a, const Tensor& b, Tensor& out, Tensor& xa,
               const LoraArgs& args) override;
  void do_lora_backward(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& xa, const Tensor& dout,
                        Tensor& dx, Tensor& da, Tensor& db, const LoraArgs& args) override;
  double do_grad_norm(std::span<const Tensor> grads) override;
  void do_scale_grads(std::span<Tensor> grads, float factor) override;
  void do_adamw(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWArgs& args) override;

 private:
  void add(OpKind kind, OpCost cost, std::vector<Tensor> reads, std::vector<Tensor> writes,
           std::function<void(OpKernels&)> run);

  TaskGraph graph_;
};

}  // namespace tandem::graph
