#include "ops/op_kind.hpp"

namespace tandem {

std::string_view op_name(OpKind kind) noexcept {
  switch (kind) {
    case OpKind::Embedding: return "embedding";
    case OpKind::EmbeddingBackward: return "embedding_backward";
    case OpKind::MatMul: return "matmul";
    case OpKind::MatMulBackward: return "matmul_backward";
    case OpKind::BiasAdd: return "bias_add";
    case OpKind::BiasBackward: return "bias_backward";
    case OpKind::LayerNorm: return "layernorm";
    case OpKind::LayerNormBackward: return "layernorm_backward";
    case OpKind::Gelu: return "gelu";
    case OpKind::GeluBackward: return "gelu_backward";
    case OpKind::Softmax: return "softmax";
    case OpKind::SoftmaxBackward: return "softmax_backward";
    case OpKind::Attention: return "attention";
    case OpKind::AttentionBackward: return "attention_backward";
    case OpKind::ResidualAdd: return "residual_add";
    case OpKind::ResidualAddBackward: return "residual_add_backward";
    case OpKind::Dropout: return "dropout";
    case OpKind::DropoutBackward: return "dropout_backward";
    case OpKind::CrossEntropy: return "cross_entropy";
    case OpKind::CrossEntropyBackward: return "cross_entropy_backward";
    case OpKind::MeanPool: return "mean_pool";
    case OpKind::MeanPoolBackward: return "mean_pool_backward";
    case OpKind::FirstTokenPool: return "first_token_pool";
    case OpKind::FirstTokenPoolBackward: return "first_token_pool_backward";
    case OpKind::Lora: return "lora";
    case OpKind::LoraBackward: return "lora_backward";
    case OpKind::GradNorm: return "grad_norm";
    case OpKind::ClipGradNorm: return "clip_grad_norm";
    case OpKind::AdamW: return "adamw";
    case OpKind::Host: return "host";
  }
  return "?";
}

std::string_view phase_name(Phase phase) noexcept {
  switch (phase) {
    case Phase::Forward: return "forward";
    case Phase::Backward: return "backward";
    case Phase::Optimizer: return "optimizer";
  }
  return "unknown";
}

}  // namespace tandem
