#pragma once
// Names every op and carries the cost figures the scheduler's cost model reads.

#include <cstdint>
#include <string_view>

namespace tandem {

enum class OpKind : std::uint8_t {
  Embedding, EmbeddingBackward,
  MatMul, MatMulBackward,
  BiasAdd, BiasBackward,
  LayerNorm, LayerNormBackward,
  Gelu, GeluBackward,
  Softmax, SoftmaxBackward,
  Attention, AttentionBackward,
  ResidualAdd, ResidualAddBackward,
  Dropout, DropoutBackward,
  CrossEntropy, CrossEntropyBackward,
  MeanPool, MeanPoolBackward,
  FirstTokenPool, FirstTokenPoolBackward,
  Lora, LoraBackward,
  GradNorm, ClipGradNorm,
  AdamW,
};

// "matmul_backward" etc.: the name used in errors, traces and placement rules.
std::string_view op_name(OpKind kind) noexcept;

// Work of one op call: floating-point operations and bytes moved to and from memory
// (each operand read or written once, as an ideal device would).
struct OpCost {
  double flops = 0;
  double bytes = 0;
};

}  // namespace tandem
