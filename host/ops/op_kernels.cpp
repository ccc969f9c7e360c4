#include "ops/op_kernels.hpp"

#include <cmath>
#include <string>

#include "ops/checks.hpp"
#include "ops/families.hpp"

namespace tandem {

void OpKernels::embedding(const Tensor& ids, const Tensor& wte, const Tensor& wpe, Tensor& out) {
  op::validate_embedding(ids, wte, wpe, out);
  do_embedding(ids, wte, wpe, out);
}

void OpKernels::embedding_backward(const Tensor& ids, const Tensor& dout, Tensor& dwte, Tensor& dwpe) {
  op::validate_embedding_backward(ids, dout, dwte, dwpe);
  do_embedding_backward(ids, dout, dwte, dwpe);
}

void OpKernels::matmul(const Tensor& a, const Tensor& b, Tensor& out, const MatMulArgs& args) {
  op::validate_matmul(a, b, out, args);
  do_matmul(a, b, out, args);
}

void OpKernels::matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dout, Tensor& da, Tensor& db, const MatMulArgs& args) {
  op::validate_matmul_backward(a, b, dout, da, db, args);
  do_matmul_backward(a, b, dout, da, db, args);
}

void OpKernels::bias_add(const Tensor& x, const Tensor& bias, Tensor& out) {
  op::validate_bias_add(x, bias, out);
  do_bias_add(x, bias, out);
}

void OpKernels::bias_backward(const Tensor& dout, Tensor& dbias) {
  op::validate_bias_backward(dout, dbias);
  do_bias_backward(dout, dbias);
}

void OpKernels::layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out, Tensor& mean, Tensor& rstd) {
  op::validate_layernorm(x, weight, bias, eps, out, mean, rstd);
  do_layernorm(x, weight, bias, eps, out, mean, rstd);
}

void OpKernels::layernorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd, Tensor& dx, Tensor& dweight, Tensor& dbias) {
  op::validate_layernorm_backward(dout, x, weight, mean, rstd, dx, dweight, dbias);
  do_layernorm_backward(dout, x, weight, mean, rstd, dx, dweight, dbias);
}

void OpKernels::gelu(const Tensor& x, Tensor& out, GeluKind kind) {
  op::validate_gelu(x, out, kind);
  do_gelu(x, out, kind);
}

void OpKernels::gelu_backward(const Tensor& x, const Tensor& dout, Tensor& dx, GeluKind kind) {
  op::validate_gelu_backward(x, dout, dx, kind);
  do_gelu_backward(x, dout, dx, kind);
}

void OpKernels::softmax(const Tensor& x, Tensor& out) {
  op::validate_softmax(x, out);
  do_softmax(x, out);
}

void OpKernels::softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  op::validate_softmax_backward(y, dy, dx);
  do_softmax_backward(y, dy, dx);
}

void OpKernels::attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, Tensor& out, Tensor& probs, const AttentionArgs& args) {
  op::validate_attention(q, k, v, key_mask, out, probs, args);
  do_attention(q, k, v, key_mask, out, probs, args);
}

void OpKernels::attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs, const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv, const AttentionArgs& args) {
  op::validate_attention_backward(q, k, v, probs, dout, dq, dk, dv, args);
  do_attention_backward(q, k, v, probs, dout, dq, dk, dv, args);
}

void OpKernels::residual_add(const Tensor& a, const Tensor& b, Tensor& out) {
  op::validate_residual_add(a, b, out);
  do_residual_add(a, b, out);
}

void OpKernels::residual_add_backward(const Tensor& dout, Tensor& da, Tensor& db) {
  op::validate_residual_add_backward(dout, da, db);
  do_residual_add_backward(dout, da, db);
}

void OpKernels::dropout(const Tensor& x, Tensor& out, const DropoutArgs& args) {
  op::validate_dropout(x, out, args);
  do_dropout(x, out, args);
}

void OpKernels::dropout_backward(const Tensor& dout, Tensor& dx, const DropoutArgs& args) {
  op::validate_dropout_backward(dout, dx, args);
  do_dropout_backward(dout, dx, args);
}

void OpKernels::cross_entropy(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& lse, const CrossEntropyArgs& args) {
  op::validate_cross_entropy(logits, targets, loss, lse, args);
  do_cross_entropy(logits, targets, loss, lse, args);
}

void OpKernels::cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse, float dloss, Tensor& dlogits, const CrossEntropyArgs& args) {
  op::validate_cross_entropy_backward(logits, targets, lse, dloss, dlogits, args);
  if (!defers()) op::validate_cross_entropy_lse(lse);
  do_cross_entropy_backward(logits, targets, lse, dloss, dlogits, args);
}

void OpKernels::mean_pool(const Tensor& x, const Tensor& mask, Tensor& out) {
  op::validate_mean_pool(x, mask, out);
  do_mean_pool(x, mask, out);
}

void OpKernels::mean_pool_backward(const Tensor& dout, const Tensor& mask, Tensor& dx) {
  op::validate_mean_pool_backward(dout, mask, dx);
  do_mean_pool_backward(dout, mask, dx);
}

void OpKernels::first_token_pool(const Tensor& x, Tensor& out) {
  op::validate_first_token_pool(x, out);
  do_first_token_pool(x, out);
}

void OpKernels::first_token_pool_backward(const Tensor& dout, Tensor& dx) {
  op::validate_first_token_pool_backward(dout, dx);
  do_first_token_pool_backward(dout, dx);
}

void OpKernels::lora(const Tensor& x, const Tensor& a, const Tensor& b, Tensor& out, Tensor& xa, const LoraArgs& args) {
  op::validate_lora(x, a, b, out, xa, args);
  do_lora(x, a, b, out, xa, args);
}

void OpKernels::lora_backward(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& xa, const Tensor& dout, Tensor& dx, Tensor& da, Tensor& db, const LoraArgs& args) {
  op::validate_lora_backward(x, a, b, xa, dout, dx, da, db, args);
  do_lora_backward(x, a, b, xa, dout, dx, da, db, args);
}

double OpKernels::grad_norm(std::span<const Tensor> grads) {
  op::validate_grad_norm(grads);
  return do_grad_norm(grads);
}

void OpKernels::adamw(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWArgs& args) {
  op::validate_adamw(param, grad, m, v, args);
  do_adamw(param, grad, m, v, args);
}

double OpKernels::clip_grad_norm(std::span<Tensor> grads, float max_norm) {
  op::validate_clip_grad_norm(grads, max_norm);
  const double norm = do_grad_norm(grads);
  check::that(std::isfinite(norm), "clip_grad_norm",
              "gradient norm is " + std::to_string(norm) + "; gradients left unchanged");
  if (norm > max_norm) do_scale_grads(grads, static_cast<float>(max_norm / (norm + 1e-6)));
  return norm;
}

}  // namespace tandem
