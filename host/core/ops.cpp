#include "tandem/ops.hpp"

#include "backends/cpu/cpu_kernels.hpp"

namespace tandem {
inline namespace v1 {
namespace ops {

void embedding(const Tensor& ids, const Tensor& wte, const Tensor& wpe, Tensor& out) {
  cpu_kernels().embedding(ids, wte, wpe, out);
}

void embedding_backward(const Tensor& ids, const Tensor& dout, Tensor& dwte, Tensor& dwpe) {
  cpu_kernels().embedding_backward(ids, dout, dwte, dwpe);
}

void matmul(const Tensor& a, const Tensor& b, Tensor& out, const MatMulArgs& args) {
  cpu_kernels().matmul(a, b, out, args);
}

void matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dout, Tensor& da, Tensor& db, const MatMulArgs& args) {
  cpu_kernels().matmul_backward(a, b, dout, da, db, args);
}

void bias_add(const Tensor& x, const Tensor& bias, Tensor& out) {
  cpu_kernels().bias_add(x, bias, out);
}

void bias_backward(const Tensor& dout, Tensor& dbias) {
  cpu_kernels().bias_backward(dout, dbias);
}

void layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out, Tensor& mean, Tensor& rstd) {
  cpu_kernels().layernorm(x, weight, bias, eps, out, mean, rstd);
}

void layernorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd, Tensor& dx, Tensor& dweight, Tensor& dbias) {
  cpu_kernels().layernorm_backward(dout, x, weight, mean, rstd, dx, dweight, dbias);
}

void gelu(const Tensor& x, Tensor& out, GeluKind kind) {
  cpu_kernels().gelu(x, out, kind);
}

void gelu_backward(const Tensor& x, const Tensor& dout, Tensor& dx, GeluKind kind) {
  cpu_kernels().gelu_backward(x, dout, dx, kind);
}

void softmax(const Tensor& x, Tensor& out) {
  cpu_kernels().softmax(x, out);
}

void softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  cpu_kernels().softmax_backward(y, dy, dx);
}

void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, Tensor& out, Tensor& probs, const AttentionArgs& args) {
  cpu_kernels().attention(q, k, v, key_mask, out, probs, args);
}

void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs, const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv, const AttentionArgs& args) {
  cpu_kernels().attention_backward(q, k, v, probs, dout, dq, dk, dv, args);
}

void residual_add(const Tensor& a, const Tensor& b, Tensor& out) {
  cpu_kernels().residual_add(a, b, out);
}

void residual_add_backward(const Tensor& dout, Tensor& da, Tensor& db) {
  cpu_kernels().residual_add_backward(dout, da, db);
}

void dropout(const Tensor& x, Tensor& out, const DropoutArgs& args) {
  cpu_kernels().dropout(x, out, args);
}

void dropout_backward(const Tensor& dout, Tensor& dx, const DropoutArgs& args) {
  cpu_kernels().dropout_backward(dout, dx, args);
}

void cross_entropy(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& lse, const CrossEntropyArgs& args) {
  cpu_kernels().cross_entropy(logits, targets, loss, lse, args);
}

void cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse, float dloss, Tensor& dlogits, const CrossEntropyArgs& args) {
  cpu_kernels().cross_entropy_backward(logits, targets, lse, dloss, dlogits, args);
}

void mean_pool(const Tensor& x, const Tensor& mask, Tensor& out) {
  cpu_kernels().mean_pool(x, mask, out);
}

void mean_pool_backward(const Tensor& dout, const Tensor& mask, Tensor& dx) {
  cpu_kernels().mean_pool_backward(dout, mask, dx);
}

void first_token_pool(const Tensor& x, Tensor& out) {
  cpu_kernels().first_token_pool(x, out);
}

void first_token_pool_backward(const Tensor& dout, Tensor& dx) {
  cpu_kernels().first_token_pool_backward(dout, dx);
}

void lora(const Tensor& x, const Tensor& a, const Tensor& b, Tensor& out, Tensor& xa, const LoraArgs& args) {
  cpu_kernels().lora(x, a, b, out, xa, args);
}

void lora_backward(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& xa, const Tensor& dout, Tensor& dx, Tensor& da, Tensor& db, const LoraArgs& args) {
  cpu_kernels().lora_backward(x, a, b, xa, dout, dx, da, db, args);
}

double grad_norm(std::span<const Tensor> grads) {
  return cpu_kernels().grad_norm(grads);
}

double clip_grad_norm(std::span<Tensor> grads, float max_norm) {
  return cpu_kernels().clip_grad_norm(grads, max_norm);
}

void adamw(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWArgs& args) {
  cpu_kernels().adamw(param, grad, m, v, args);
}

}  // namespace ops
}  // namespace v1
}  // namespace tandem
