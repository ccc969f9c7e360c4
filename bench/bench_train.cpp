// Training throughput of GPT-2 small on the CPU path, judged against the CPU GEMM peak
// measured in the same run.
//
//   Gemm/peak_1024          cpu_kernels().matmul at 1024³ NN: the ceiling for a step's GFLOP/s.
//   TrainStep/session/T     sched::Session, policy cpu: each step records forward + backward +
//       AdamW as a task graph and runs it on the executor (what `tandem step` does); the
//       counter executor_ms is the executor's part, the rest is recording and placing.
//   TrainStep/direct/T      the same step without a graph: Model::forward and backward on
//       cpu_kernels(), then cpu_kernels().adamw per parameter (no decay where !decay).
//
// Model: 12 layers, 768 wide, 12 heads, vocabulary 50257, 1024 positions (124,439,808
// parameters), matrices drawn from N(0, 0.02) as GPT-2 initialises them, biases zero,
// LayerNorm one/zero; no dropout. Batch 4 of random token ids, T = 128 and 512.
//
// FLOPs per step: the sum of task.cost.flops over the graph graph::Recorder records for the
// step (the op descriptors' counts), the same for both paths. Each path runs one untimed step
// per T first (page faults of activations and AdamW moments). At exit a summary prints, per
// benchmark, the median over repetitions of tokens/s and GFLOP/s, and GFLOP/s as a share of
// the median GEMM peak. Run with --benchmark_enable_random_interleaving=true so that load from
// other work on a shared machine hits every case alike. Needs ~6 GB of memory.

#include <benchmark/benchmark.h>
#include <tbb/info.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernels.hpp"
#include "data/batch.hpp"
#include "graph/recorder.hpp"
#include "models/config.hpp"
#include "models/model.hpp"
#include "sched/session.hpp"
#include "tandem/tensor.hpp"

namespace tandem {
namespace {

constexpr std::int64_t kBatch = 4;
constexpr std::int64_t kGemmSide = 1024;
constexpr int kStepRepetitions = 3;
constexpr int kGemmRepetitions = 5;
constexpr double kAdjacentSeconds = 0.3;

constexpr const char* kGpt2Small = R"({
  "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
  "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024, "vocab_size": 50257,
  "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
  "resid_pdrop": 0.0, "attn_pdrop": 0.0, "embd_pdrop": 0.0,
  "scale_attn_weights": true, "scale_attn_by_inverse_layer_idx": false, "add_cross_attention": false
})";

// Every matrix (rank >= 2) from N(0, 0.02); vectors keep make_model's values (zero biases,
// LayerNorm weight one).
void randomize(models::Model& model, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  for (models::Parameter& p : model.parameters()) {
    if (p.value.rank() < 2) continue;
    float* x = p.value.data<float>();
    for (std::int64_t i = 0; i < p.value.numel(); ++i) x[i] = dist(rng);
  }
}

// (B, T) random token ids and next-token targets.
data::Batch random_batch(std::int64_t seq, std::int64_t vocab, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int32_t> dist(0, static_cast<std::int32_t>(vocab - 1));
  std::vector<std::int32_t> ids(static_cast<std::size_t>(kBatch * seq));
  for (std::int32_t& id : ids) id = dist(rng);
  std::vector<std::int32_t> targets(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) targets[i] = (i + 1) % static_cast<std::size_t>(seq) == 0 ? dist(rng) : ids[i + 1];
  data::Batch batch;
  batch.ids = Tensor::from(std::span<const std::int32_t>(ids), Shape{kBatch, seq});
  batch.targets = Tensor::from(std::span<const std::int32_t>(targets), Shape{kBatch, seq});
  return batch;
}

AdamWArgs adamw_args() {
  AdamWArgs a;
  a.lr = 1e-4f;
  a.weight_decay = 0.01f;
  return a;
}

// GPT-2 small and what both training paths keep between steps, built once per process: the
// 124M parameters take seconds to initialise and each path's AdamW moments another 1 GB, too
// much to rebuild for every benchmark repetition. Both paths train the same weights.
class Workbench {
 public:
  static Workbench& get() {
    static Workbench bench;
    return bench;
  }

  const data::Batch& batch(std::int64_t seq) {
    auto it = batches_.find(seq);
    if (it == batches_.end()) it = batches_.emplace(seq, random_batch(seq, model_->config().vocab, 1000 + std::uint64_t(seq))).first;
    return it->second;
  }

  // The FLOPs of one step as the recorded graph's tasks count them.
  double step_flops(std::int64_t seq) {
    const auto it = flops_.find(seq);
    if (it != flops_.end()) return it->second;
    graph::Recorder rec;
    model_->forward_ops(batch(seq), rec);
    model_->backward(rec);
    std::span<models::Parameter> params = model_->parameters();
    for (std::size_t i = 0; i < params.size(); ++i)
      if (params[i].trainable) rec.adamw(params[i].value, params[i].grad, m_[i], v_[i], adamw_args());
    double flops = 0;
    for (const graph::Task& t : rec.graph().tasks()) flops += t.cost.flops;
    return flops_[seq] = flops;
  }

  // Returns the executor's share of the step in ms (the rest is recording and placing the graph).
  double session_step(std::int64_t seq) { return session_->step(batch(seq)).report.wall_ms; }

  void direct_step(std::int64_t seq) {
    OpKernels& cpu = cpu_kernels();
    model_->zero_grad();
    model_->forward(batch(seq), cpu);
    model_->backward(cpu);
    AdamWArgs args = adamw_args();
    args.step = ++direct_steps_;
    std::span<models::Parameter> params = model_->parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (!params[i].trainable) continue;
      AdamWArgs a = args;
      if (!params[i].decay) a.weight_decay = 0.0f;
      cpu.adamw(params[i].value, params[i].grad, m_[i], v_[i], a);
    }
  }

  // Runs @p step once untimed the first time it is asked for (@p key names path and T).
  template <class F> void warm_up(const std::string& key, F&& step) {
    if (warmed_.emplace(key, true).second) step();
  }

 private:
  Workbench() : model_(models::make_model(models::parse_config(kGpt2Small, "bench_train gpt2-small"))) {
    randomize(*model_, 42);
    for (const models::Parameter& p : model_->parameters()) {
      m_.push_back(Tensor::zeros(p.value.shape()));
      v_.push_back(Tensor::zeros(p.value.shape()));
    }
    sched::SessionOptions options;
    options.devices = {"cpu"};
    options.policy = "cpu";
    options.use_history = false;
    options.adamw = adamw_args();
    session_ = std::make_unique<sched::Session>(*model_, options);
  }

  std::unique_ptr<models::Model> model_;
  std::unique_ptr<sched::Session> session_;
  std::vector<Tensor> m_, v_;  // the direct path's AdamW moments
  std::int64_t direct_steps_ = 0;
  std::map<std::int64_t, data::Batch> batches_;
  std::map<std::int64_t, double> flops_;
  std::map<std::string, bool> warmed_;
};

// Per benchmark, what every repetition achieved; printed as medians at exit.
struct Summary {
  struct Rates {
    std::vector<double> gflops, tokens;
    std::vector<double> adjacent_share;  // per repetition: GFLOP/s over the GEMM rate timed around it
    std::vector<double> tokens_per_cpu_second;  // process CPU time, all threads
    double flops_per_step = 0;
  };
  std::map<std::string, Rates> runs;

  static double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t k = v.size() / 2;
    return v.size() % 2 ? v[k] : 0.5 * (v[k - 1] + v[k]);
  }

  ~Summary() {
    if (runs.empty()) return;
    const auto peak = runs.find("Gemm/peak_1024");
    const double peak_gflops = peak == runs.end() ? 0 : median(peak->second.gflops);
    std::printf("\nSummary (median over repetitions, threads = %d, batch %lld)\n", tbb::info::default_concurrency(),
                static_cast<long long>(kBatch));
    std::printf("  %-26s %10s %9s %9s %13s %11s %14s\n", "benchmark", "tokens/s", "GFLOP/s", "of peak", "of adjacent",
                "GFLOP/step", "tokens/cpu-s");
    for (const auto& [name, r] : runs) {
      const double g = median(r.gflops);
      if (r.tokens.empty()) {
        std::printf("  %-26s %10s %9.1f\n", name.c_str(), "-", g);
        continue;
      }
      std::printf("  %-26s %10.1f %9.1f %8.1f%% %12.1f%% %11.1f %14.1f\n", name.c_str(), median(r.tokens), g,
                  peak_gflops > 0 ? 100.0 * g / peak_gflops : 0.0, 100.0 * median(r.adjacent_share),
                  r.flops_per_step * 1e-9, median(r.tokens_per_cpu_second));
    }
    std::printf("  of peak: over the median Gemm/peak_1024 of this run; of adjacent: median over repetitions\n"
                "  of the step's rate over a 1024^3 GEMM timed just before and after it (robust to load drift);\n"
                "  tokens/cpu-s: per second of process CPU time over all threads (spin-waiting included)\n");
  }
};
Summary g_summary;

Tensor filled(const Shape& shape, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Tensor t = Tensor::empty(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// The three operands of a 1024^3 GEMM and its FLOPs.
struct Gemm {
  Tensor a = filled({kGemmSide, kGemmSide}, 1), b = filled({kGemmSide, kGemmSide}, 2);
  Tensor out = Tensor::empty({kGemmSide, kGemmSide});
  static constexpr double kFlops = 2.0 * double(kGemmSide) * double(kGemmSide) * double(kGemmSide);
  void operator()() { cpu_kernels().matmul(a, b, out, {}); }
};

// GFLOP/s of back-to-back 1024^3 GEMMs over at least @p seconds of wall clock.
double gemm_rate(Gemm& gemm, double seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  int calls = 0;
  while (elapsed < seconds) {
    gemm();
    ++calls;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return Gemm::kFlops * calls / elapsed * 1e-9;
}

// CPU time of every thread of this process: on a shared machine, what the step actually got.
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Times the loop (wall clock), sets the counters and feeds the summary. Steps (@p tokens > 0)
// also time the GEMM just before and after the loop, for a share that load drift spares.
template <class F>
void run(benchmark::State& state, const std::string& name, double flops, double tokens, F&& body) {
  std::optional<Gemm> gemm;
  if (tokens > 0) gemm.emplace();
  const double before = gemm ? gemm_rate(*gemm, kAdjacentSeconds) : 0;
  const double cpu0 = process_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    body();
    benchmark::ClobberMemory();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu_secs = process_cpu_seconds() - cpu0;
  const auto iters = static_cast<double>(state.iterations());
  Summary::Rates& r = g_summary.runs[name];
  const double gflops = flops * iters / secs * 1e-9;
  r.gflops.push_back(gflops);
  r.flops_per_step = flops;
  if (gemm) r.adjacent_share.push_back(gflops / (0.5 * (before + gemm_rate(*gemm, kAdjacentSeconds))));
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (tokens > 0) {
    r.tokens.push_back(tokens * iters / secs);
    r.tokens_per_cpu_second.push_back(tokens * iters / cpu_secs);
    state.counters["tokens/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsIterationInvariantRate);
  }
}

void BM_GemmPeak(benchmark::State& state) {
  Gemm gemm;
  run(state, "Gemm/peak_1024", Gemm::kFlops, 0, [&] { gemm(); });
}

void BM_SessionStep(benchmark::State& state) {
  const std::int64_t seq = state.range(0);
  Workbench& w = Workbench::get();
  w.warm_up("session/" + std::to_string(seq), [&] { w.session_step(seq); });
  double executor_ms = 0;
  run(state, "TrainStep/session/" + std::to_string(seq), w.step_flops(seq), double(kBatch * seq),
      [&] { executor_ms += w.session_step(seq); });
  state.counters["executor_ms"] = executor_ms / static_cast<double>(state.iterations());
}

void BM_DirectStep(benchmark::State& state) {
  const std::int64_t seq = state.range(0);
  Workbench& w = Workbench::get();
  w.warm_up("direct/" + std::to_string(seq), [&] { w.direct_step(seq); });
  run(state, "TrainStep/direct/" + std::to_string(seq), w.step_flops(seq), double(kBatch * seq),
      [&] { w.direct_step(seq); });
}

void step_common(benchmark::internal::Benchmark* b) {
  b->Arg(128)->Arg(512)->Iterations(1)->Repetitions(kStepRepetitions)->ReportAggregatesOnly(true)->UseRealTime()->Unit(
      benchmark::kMillisecond);
}

}  // namespace
}  // namespace tandem

BENCHMARK(tandem::BM_GemmPeak)
    ->Name("Gemm/peak_1024")
    ->MinTime(0.2)
    ->Repetitions(tandem::kGemmRepetitions)
    ->ReportAggregatesOnly(true)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(tandem::BM_SessionStep)->Name("TrainStep/session")->Apply(tandem::step_common);
BENCHMARK(tandem::BM_DirectStep)->Name("TrainStep/direct")->Apply(tandem::step_common);
