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
  Host,  // host work between ops (copies, a model's own small math): CPU only
};

// "matmul_backward" etc.: the name used in errors, traces and placement rules.
std::string_view op_name(OpKind kind) noexcept;

// Where in a training step an op belongs: the scheduler's rules, traces and --explain
// tables group ops by it.
enum class Phase : std::uint8_t { Forward, Backward, Optimizer };
std::string_view phase_name(Phase phase) noexcept;

// The layer (-1: outside any layer, e.g. embeddings and the head) and phase of the ops a
// model issues next.
struct Scope {
  int layer = -1;
  Phase phase = Phase::Forward;
};

// Work of one op call: floating-point operations and bytes moved to and from memory
// (each operand read or written once, as an ideal device would).
struct OpCost {
  double flops = 0;
  double bytes = 0;
};

}  // namespace tandem
