// Every op forward and backward on the CPU backend at GPT-2 small shapes: B=4, T=256
// (N = 1024 rows), C=768, 12 heads, 4C=3072 MLP, V=50257 vocabulary, LoRA rank 8.
// Counters come from each op's descriptor (host/ops/<family>.hpp): GFLOP/s and GB/s.
// Run: build/bench/bench_ops [--benchmark_filter=...] [--benchmark_format=json]
#include <benchmark/benchmark.h>

#include <functional>
#include <random>

#include "backends/cpu/cpu_kernels.hpp"
#include "ops/families.hpp"

namespace tandem {
namespace {

constexpr std::int64_t B = 4, T = 256, N = B * T, C = 768, H = 12, V = 50257, R = 8;

Tensor random(const Shape& shape, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t = Tensor::empty(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

Tensor random_ids(const Shape& shape, std::int32_t hi, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int32_t> dist(0, hi - 1);
  Tensor t = Tensor::empty(shape, DType::I32);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data<std::int32_t>()[i] = dist(rng);
  return t;
}

// Times @p body and reports the op's cost as rates over wall-clock time.
void run(benchmark::State& state, const OpCost& cost, const std::function<void()>& body) {
  for (auto _ : state) body();
  state.counters["GFLOP/s"] = benchmark::Counter(cost.flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] = benchmark::Counter(cost.bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

OpKernels& cpu() { return cpu_kernels(); }

void Embedding(benchmark::State& s) {
  Tensor ids = random_ids({B, T}, int(V), 1), wte = random({V, C}, 2), wpe = random({1024, C}, 3);
  Tensor out = Tensor::empty({B, T, C});
  run(s, op::embedding_cost(ids.shape(), C, true), [&] { cpu().embedding(ids, wte, wpe, out); });
}
void EmbeddingBackward(benchmark::State& s) {
  Tensor ids = random_ids({B, T}, int(V), 1), dout = random({B, T, C}, 2);
  Tensor dwte = Tensor::zeros({V, C}), dwpe = Tensor::zeros({1024, C});
  run(s, op::embedding_backward_cost(ids.shape(), C, true), [&] { cpu().embedding_backward(ids, dout, dwte, dwpe); });
}

// The MLP's first projection, x (N, C) · W (C, 4C).
void MatMul(benchmark::State& s) {
  Tensor x = random({N, C}, 1), w = random({C, 4 * C}, 2), out = Tensor::empty({N, 4 * C});
  run(s, op::matmul_cost(x.shape(), w.shape(), {}), [&] { cpu().matmul(x, w, out, {}); });
}
void MatMulBackward(benchmark::State& s) {
  Tensor x = random({N, C}, 1), w = random({C, 4 * C}, 2), dout = random({N, 4 * C}, 3);
  Tensor dx = Tensor::zeros({N, C}), dw = Tensor::zeros({C, 4 * C});
  run(s, op::matmul_backward_cost(x.shape(), w.shape(), {}, true, true),
      [&] { cpu().matmul_backward(x, w, dout, dx, dw, {}); });
}

void BiasAdd(benchmark::State& s) {
  Tensor x = random({N, 4 * C}, 1), b = random({4 * C}, 2), out = Tensor::empty({N, 4 * C});
  run(s, op::bias_add_cost(x.shape()), [&] { cpu().bias_add(x, b, out); });
}
void BiasBackward(benchmark::State& s) {
  Tensor dout = random({N, 4 * C}, 1), db = Tensor::zeros({4 * C});
  run(s, op::bias_backward_cost(dout.shape()), [&] { cpu().bias_backward(dout, db); });
}

void LayerNorm(benchmark::State& s) {
  Tensor x = random({N, C}, 1), w = random({C}, 2), b = random({C}, 3);
  Tensor out = Tensor::empty({N, C}), mean = Tensor::empty({N}), rstd = Tensor::empty({N});
  run(s, op::layernorm_cost(x.shape()), [&] { cpu().layernorm(x, w, b, 1e-5f, out, mean, rstd); });
}
void LayerNormBackward(benchmark::State& s) {
  Tensor x = random({N, C}, 1), w = random({C}, 2), b = random({C}, 3), dout = random({N, C}, 4);
  Tensor out = Tensor::empty({N, C}), mean = Tensor::empty({N}), rstd = Tensor::empty({N});
  cpu().layernorm(x, w, b, 1e-5f, out, mean, rstd);
  Tensor dx = Tensor::zeros({N, C}), dw = Tensor::zeros({C}), db = Tensor::zeros({C});
  run(s, op::layernorm_backward_cost(x.shape(), true, true),
      [&] { cpu().layernorm_backward(dout, x, w, mean, rstd, dx, dw, db); });
}

void Gelu(benchmark::State& s) {
  Tensor x = random({N, 4 * C}, 1), out = Tensor::empty({N, 4 * C});
  run(s, op::gelu_cost(x.shape(), GeluKind::Tanh), [&] { cpu().gelu(x, out, GeluKind::Tanh); });
}
void GeluBackward(benchmark::State& s) {
  Tensor x = random({N, 4 * C}, 1), dout = random({N, 4 * C}, 2), dx = Tensor::zeros({N, 4 * C});
  run(s, op::gelu_backward_cost(x.shape(), GeluKind::Tanh), [&] { cpu().gelu_backward(x, dout, dx, GeluKind::Tanh); });
}

// Attention-score sized rows: B·H·T rows of T.
void Softmax(benchmark::State& s) {
  Tensor x = random({B * H * T, T}, 1, -4, 4), out = Tensor::empty({B * H * T, T});
  run(s, op::softmax_cost(x.shape()), [&] { cpu().softmax(x, out); });
}
void SoftmaxBackward(benchmark::State& s) {
  Tensor x = random({B * H * T, T}, 1, -4, 4), y = Tensor::empty({B * H * T, T}), dy = random({B * H * T, T}, 2);
  cpu().softmax(x, y);
  Tensor dx = Tensor::zeros({B * H * T, T});
  run(s, op::softmax_backward_cost(y.shape()), [&] { cpu().softmax_backward(y, dy, dx); });
}

const AttentionArgs kCausal{int(H), true, 0.0f};
void Attention(benchmark::State& s) {
  Tensor q = random({B, T, C}, 1), k = random({B, T, C}, 2), v = random({B, T, C}, 3);
  Tensor out = Tensor::empty({B, T, C}), probs = Tensor::empty({B, H, T, T});
  run(s, op::attention_cost(op::attention_dims(q.shape(), k.shape(), kCausal), true, false),
      [&] { cpu().attention(q, k, v, Tensor(), out, probs, kCausal); });
}
void AttentionBackward(benchmark::State& s) {
  Tensor q = random({B, T, C}, 1), k = random({B, T, C}, 2), v = random({B, T, C}, 3), dout = random({B, T, C}, 4);
  Tensor out = Tensor::empty({B, T, C}), probs = Tensor::empty({B, H, T, T});
  cpu().attention(q, k, v, Tensor(), out, probs, kCausal);
  Tensor dq = Tensor::zeros({B, T, C}), dk = Tensor::zeros({B, T, C}), dv = Tensor::zeros({B, T, C});
  run(s, op::attention_backward_cost(op::attention_dims(q.shape(), k.shape(), kCausal), true),
      [&] { cpu().attention_backward(q, k, v, probs, dout, dq, dk, dv, kCausal); });
}

void ResidualAdd(benchmark::State& s) {
  Tensor a = random({N, C}, 1), b = random({N, C}, 2), out = Tensor::empty({N, C});
  run(s, op::residual_add_cost(a.shape()), [&] { cpu().residual_add(a, b, out); });
}
void ResidualAddBackward(benchmark::State& s) {
  Tensor dout = random({N, C}, 1), da = Tensor::zeros({N, C}), db = Tensor::zeros({N, C});
  run(s, op::residual_add_backward_cost(dout.shape()), [&] { cpu().residual_add_backward(dout, da, db); });
}

const DropoutArgs kDropout{0.1f, 1234};
void Dropout(benchmark::State& s) {
  Tensor x = random({N, 4 * C}, 1), out = Tensor::empty({N, 4 * C});
  run(s, op::dropout_cost(x.shape()), [&] { cpu().dropout(x, out, kDropout); });
}
void DropoutBackward(benchmark::State& s) {
  Tensor dout = random({N, 4 * C}, 1), dx = Tensor::zeros({N, 4 * C});
  run(s, op::dropout_backward_cost(dout.shape()), [&] { cpu().dropout_backward(dout, dx, kDropout); });
}

// The language-model loss over GPT-2's full vocabulary.
void CrossEntropy(benchmark::State& s) {
  Tensor logits = random({N, V}, 1, -4, 4), targets = random_ids({N}, int(V), 2);
  Tensor loss = Tensor::empty({1}), lse = Tensor::empty({N});
  run(s, op::cross_entropy_cost(N, V), [&] { cpu().cross_entropy(logits, targets, loss, lse, {}); });
}
void CrossEntropyBackward(benchmark::State& s) {
  Tensor logits = random({N, V}, 1, -4, 4), targets = random_ids({N}, int(V), 2);
  Tensor loss = Tensor::empty({1}), lse = Tensor::empty({N}), dlogits = Tensor::zeros({N, V});
  cpu().cross_entropy(logits, targets, loss, lse, {});
  run(s, op::cross_entropy_backward_cost(N, V),
      [&] { cpu().cross_entropy_backward(logits, targets, lse, 1.0f, dlogits, {}); });
}

void MeanPool(benchmark::State& s) {
  Tensor x = random({B, T, C}, 1), mask = Tensor::empty({B, T}), out = Tensor::empty({B, C});
  mask.fill(1.0f);
  run(s, op::mean_pool_cost(x.shape(), true), [&] { cpu().mean_pool(x, mask, out); });
}
void MeanPoolBackward(benchmark::State& s) {
  Tensor dout = random({B, C}, 1), mask = Tensor::empty({B, T}), dx = Tensor::zeros({B, T, C});
  mask.fill(1.0f);
  run(s, op::mean_pool_backward_cost(dx.shape(), true), [&] { cpu().mean_pool_backward(dout, mask, dx); });
}
void FirstTokenPool(benchmark::State& s) {
  Tensor x = random({B, T, C}, 1), out = Tensor::empty({B, C});
  run(s, op::first_token_pool_cost(x.shape()), [&] { cpu().first_token_pool(x, out); });
}
void FirstTokenPoolBackward(benchmark::State& s) {
  Tensor dout = random({B, C}, 1), dx = Tensor::zeros({B, T, C});
  run(s, op::first_token_pool_backward_cost(dx.shape()), [&] { cpu().first_token_pool_backward(dout, dx); });
}

const LoraArgs kLora{2.0f};
void Lora(benchmark::State& s) {
  Tensor x = random({N, C}, 1), a = random({C, R}, 2), b = random({R, C}, 3);
  Tensor out = Tensor::zeros({N, C}), xa = Tensor::empty({N, R});
  run(s, op::lora_cost(N, C, R, C), [&] { cpu().lora(x, a, b, out, xa, kLora); });
}
void LoraBackward(benchmark::State& s) {
  Tensor x = random({N, C}, 1), a = random({C, R}, 2), b = random({R, C}, 3), dout = random({N, C}, 4);
  Tensor out = Tensor::zeros({N, C}), xa = Tensor::empty({N, R});
  cpu().lora(x, a, b, out, xa, kLora);
  Tensor dx = Tensor::zeros({N, C}), da = Tensor::zeros({C, R}), db = Tensor::zeros({R, C});
  run(s, op::lora_backward_cost(N, C, R, C, true), [&] { cpu().lora_backward(x, a, b, xa, dout, dx, da, db, kLora); });
}

// One transformer block's parameter gradients (about 7M values).
void GradNorm(benchmark::State& s) {
  std::vector<Tensor> grads{random({C, 3 * C}, 1), random({C, C}, 2), random({C, 4 * C}, 3), random({4 * C, C}, 4)};
  std::int64_t n = 0;
  for (const auto& g : grads) n += g.numel();
  run(s, op::grad_norm_cost(n), [&] { benchmark::DoNotOptimize(cpu().grad_norm(grads)); });
}

#define TANDEM_OP_BENCH(fn) BENCHMARK(fn)->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(0.2)
TANDEM_OP_BENCH(Embedding);
TANDEM_OP_BENCH(EmbeddingBackward);
TANDEM_OP_BENCH(MatMul);
TANDEM_OP_BENCH(MatMulBackward);
TANDEM_OP_BENCH(BiasAdd);
TANDEM_OP_BENCH(BiasBackward);
TANDEM_OP_BENCH(LayerNorm);
TANDEM_OP_BENCH(LayerNormBackward);
TANDEM_OP_BENCH(Gelu);
TANDEM_OP_BENCH(GeluBackward);
TANDEM_OP_BENCH(Softmax);
TANDEM_OP_BENCH(SoftmaxBackward);
TANDEM_OP_BENCH(Attention);
TANDEM_OP_BENCH(AttentionBackward);
TANDEM_OP_BENCH(ResidualAdd);
TANDEM_OP_BENCH(ResidualAddBackward);
TANDEM_OP_BENCH(Dropout);
TANDEM_OP_BENCH(DropoutBackward);
TANDEM_OP_BENCH(CrossEntropy);
TANDEM_OP_BENCH(CrossEntropyBackward);
TANDEM_OP_BENCH(MeanPool);
TANDEM_OP_BENCH(MeanPoolBackward);
TANDEM_OP_BENCH(FirstTokenPool);
TANDEM_OP_BENCH(FirstTokenPoolBackward);
TANDEM_OP_BENCH(Lora);
TANDEM_OP_BENCH(LoraBackward);
TANDEM_OP_BENCH(GradNorm);

}  // namespace
}  // namespace tandem
