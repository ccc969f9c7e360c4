// Benchmark: the OpenCL GEMM (fpga/kernels/gemm.cl, on the first OpenCL device — PoCL on a
// machine without a card) next to the CPU backend's matmul, same shapes, same run, both through
// the public op (OpKernels::matmul, validation included).
//
// Shapes: 512³ and 1024³ (NN), and GPT-2 small with B·T = 1024 rows (M x K x N): the four
// linear layers forward (NN), the qkv layer's input gradient (NT) and weight gradient (TN),
// and the tied lm_head, x (1024, 768) · wteᵀ (50257, 768) (NT, 79 GFLOP per call: a single
// iteration per repetition).
//
// Each benchmark reports GFLOP/s (2·M·N·K per call, wall clock). At exit a summary prints, per
// shape, the median GFLOP/s of both backends over the repetitions and the ratio CPU / OpenCL
// (the target: <= 4). The machine may be shared: the two backends of a shape run back to
// back so that load hits both alike.
//
//   build/bench/bench_opencl [--benchmark_filter=1024x768x2304] [--benchmark_format=json]

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernels.hpp"
#include "backends/opencl/opencl_kernels.hpp"

namespace {

using tandem::OpKernels;
using tandem::Shape;
using tandem::Tensor;
using i64 = std::int64_t;

constexpr int kRepetitions = 5;
constexpr double kMinTimeSeconds = 0.5;
// Above this many flops per call a case runs one iteration per repetition, fewer repetitions.
constexpr double kHugeFlops = 2e10;

struct Case {
  i64 m, k, n;
  bool ta, tb;
  const char* tag;
  [[nodiscard]] double flops() const { return 2.0 * double(m) * double(n) * double(k); }
  [[nodiscard]] std::string name() const {
    const std::string form = std::string(ta ? "T" : "N") + (tb ? "T" : "N");
    return std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n) + "/" + form + "/" + tag;
  }
};

// A constant array, not a function-local static: the summary reads it at exit, after such
// statics may already be destroyed.
constexpr Case kCases[] = {
    {512, 512, 512, false, false, "square"},
    {1024, 1024, 1024, false, false, "square"},
    {1024, 768, 2304, false, false, "qkv"},
    {1024, 768, 768, false, false, "attn_proj"},
    {1024, 768, 3072, false, false, "mlp_up"},
    {1024, 3072, 768, false, false, "mlp_down"},
    // qkv backward: dX (1024, 768) = dY (1024, 2304) · Wᵀ; dW (768, 2304) = Xᵀ · dY.
    {1024, 2304, 768, false, true, "qkv_dX"},
    {768, 1024, 2304, true, false, "qkv_dW"},
    {1024, 768, 50257, false, true, "lm_head"},
};

Tensor random(const Shape& shape, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Tensor t = Tensor::empty(shape);
  float* p = t.data<float>();
  for (i64 i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

// A case's tensors, made once and shared by both backends (lm_head's are 560 MB together).
struct Operands {
  Tensor a, b, out;
  explicit Operands(const Case& c)
      : a(random(c.ta ? Shape{c.k, c.m} : Shape{c.m, c.k}, 1)),
        b(random(c.tb ? Shape{c.n, c.k} : Shape{c.k, c.n}, 2)),
        out(Tensor::zeros({c.m, c.n})) {}
};

// Only the current case's tensors stay alive.
Operands& operands(const Case& c) {
  static std::string name;
  static std::unique_ptr<Operands> current;
  if (!current || name != c.name()) {
    current.reset();
    current = std::make_unique<Operands>(c);
    name = c.name();
  }
  return *current;
}

OpKernels& opencl() {
  static tandem::opencl::OpenclKernels backend;
  return backend;
}

// GFLOP/s of every repetition by backend and shape, for the summary printed at exit.
struct Summary {
  std::map<std::string, std::map<std::string, std::vector<double>>> rates;  // shape -> backend -> runs
  static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t h = v.size() / 2;
    return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
  }
  ~Summary() {
    if (rates.empty()) return;
    std::printf("\nSummary: median GFLOP/s over repetitions; ratio = CPU / OpenCL (target <= 4)\n");
    std::printf("  %-30s %10s %10s %8s\n", "shape (M x K x N/form/layer)", "cpu", "opencl", "ratio");
    for (const Case& c : kCases) {
      const auto it = rates.find(c.name());
      if (it == rates.end()) continue;
      const auto cpu = it->second.find("cpu"), ocl = it->second.find("opencl");
      const double cpu_rate = cpu == it->second.end() ? 0 : median(cpu->second);
      const double ocl_rate = ocl == it->second.end() ? 0 : median(ocl->second);
      std::printf("  %-30s %10.1f %10.1f", c.name().c_str(), cpu_rate, ocl_rate);
      if (cpu_rate > 0 && ocl_rate > 0) std::printf(" %8.2f", cpu_rate / ocl_rate);
      std::printf("\n");
    }
  }
};
Summary g_summary;

// Times the loop itself (wall clock) to feed the summary: every call Google Benchmark makes,
// the repetitions and its shorter trial runs, is one sample.
void run_case(benchmark::State& state, const Case& c, const std::string& backend_name, OpKernels& backend) {
  Operands& op = operands(c);
  const tandem::MatMulArgs args{c.ta, c.tb, 1.0f, 0.0f};
  // Warm-up outside the timing: the first OpenCL call builds (or loads) the program.
  backend.matmul(op.a, op.b, op.out, args);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    backend.matmul(op.a, op.b, op.out, args);
    benchmark::ClobberMemory();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double gflop = c.flops() * 1e-9;
  g_summary.rates[c.name()][backend_name].push_back(gflop * static_cast<double>(state.iterations()) / secs);
  state.counters["GFLOP/s"] = benchmark::Counter(gflop, benchmark::Counter::kIsIterationInvariantRate);
}

const bool kRegistered = [] {
  for (const Case& c : kCases) {
    for (const char* backend : {"cpu", "opencl"}) {
      auto* b = benchmark::RegisterBenchmark(("gemm/" + c.name() + "/" + backend).c_str(),
                                             [c, backend](benchmark::State& state) {
                                               const std::string name = backend;
                                               run_case(state, c, name, name == "cpu" ? tandem::cpu_kernels() : opencl());
                                             });
      b->UseRealTime()->Unit(benchmark::kMillisecond)->ReportAggregatesOnly(true);
      if (c.flops() > kHugeFlops) b->Iterations(1)->Repetitions(3);
      else b->MinTime(kMinTimeSeconds)->Repetitions(kRepetitions);
    }
  }
  return true;
}();

}  // namespace
