// AdamW against the machine's memory bandwidth.
//
//   Stream/copy, Stream/copy_nt, Stream/triad   STREAM-like kernels over 500 MB arrays,
//       parallel with oneTBB (all cores), bytes/s counts every byte read and written
//       (copy 8 B/element, triad 12 B/element) as STREAM does; copy_nt uses streaming stores.
//   AdamW/tandem_cpu        the CPU backend's fused step over GPT-2 small's 124,439,808
//       parameters; bytes/s at 28 B/param (read p, g, m, v; write p, m, v) and params/s.
//   AdamW/unfused_eigen     the same math as separate whole-array Eigen passes (still
//       parallel), bytes/s also at 28 B/param, to show what fusion saves.
//   AdamW/reference         the double-precision reference at 4M parameters, for contrast.
//
// Buffers are allocated and first-touched (in parallel) before the timed loop, so page
// faults are not measured. At exit a summary prints, per benchmark, the median bytes/s over
// every timed run (the repetitions and Google Benchmark's shorter trial runs) and AdamW's
// fraction of the copy bandwidth (the target is >= 60%). The machine may be shared: run
// with --benchmark_enable_random_interleaving=true so that load hits all kernels alike.

#include <benchmark/benchmark.h>
#include <tbb/blocked_range.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>

#include <Eigen/Core>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "backends/cpu/cpu_kernels.hpp"
#include "tandem/tensor.hpp"

namespace {

using tandem::Shape;
using tandem::Tensor;
using Vec = Eigen::Map<Eigen::ArrayXf>;
using ConstVec = Eigen::Map<const Eigen::ArrayXf>;

constexpr std::int64_t kStreamElems = 125'000'000;  // 500 MB per array
constexpr std::int64_t kGpt2Params = 124'439'808;   // GPT-2 small
constexpr std::int64_t kRefParams = 4'000'000;
constexpr std::int64_t kChunk = std::int64_t{1} << 16;

// Runs body(lo, hi) over [0, n) in fixed chunks on all TBB threads.
template <class F> void par(std::int64_t n, F&& body) {
  tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, n, kChunk),
                    [&](const tbb::blocked_range<std::int64_t>& r) { body(r.begin(), r.end()); },
                    tbb::simple_partitioner());
}

// An f32 tensor of n elements, every page touched in parallel with a deterministic pattern.
Tensor touched(std::int64_t n, float base, float step) {
  Tensor t = Tensor::empty(Shape{n});
  float* p = t.data<float>();
  par(n, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) p[i] = base + step * static_cast<float>(i % 1024);
  });
  return t;
}

// Bytes/s of every repetition by benchmark name, for the summary printed at exit.
struct Summary {
  std::map<std::string, std::vector<double>> rates;
  static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t k = v.size() / 2;
    return v.size() % 2 ? v[k] : 0.5 * (v[k - 1] + v[k]);
  }
  ~Summary() {
    if (rates.empty()) return;
    std::printf("\nSummary (median over repetitions, GB = 1e9 bytes, threads = %d)\n",
                tbb::info::default_concurrency());
    for (const auto& [name, v] : rates) std::printf("  %-24s %8.2f GB/s\n", name.c_str(), median(v) / 1e9);
    const auto copy = rates.find("Stream/copy");
    for (const char* name : {"AdamW/tandem_cpu", "AdamW/unfused_eigen"}) {
      const auto it = rates.find(name);
      if (it == rates.end() || copy == rates.end()) continue;
      std::printf("  %s / Stream/copy = %.1f%%\n", name, 100.0 * median(it->second) / median(copy->second));
    }
    const auto nt = rates.find("Stream/copy_nt");
    const auto ad = rates.find("AdamW/tandem_cpu");
    if (nt != rates.end() && ad != rates.end())
      std::printf("  AdamW/tandem_cpu / Stream/copy_nt = %.1f%%\n", 100.0 * median(ad->second) / median(nt->second));
  }
};
Summary g_summary;

// Times the loop body itself (wall clock) to feed the summary, and sets the counters.
template <class F> void run(benchmark::State& state, const char* name, double bytes_per_iter, double items_per_iter, F&& body) {
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    body();
    benchmark::ClobberMemory();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto iters = static_cast<double>(state.iterations());
  g_summary.rates[name].push_back(bytes_per_iter * iters / secs);
  state.counters["bytes_per_second"] = benchmark::Counter(bytes_per_iter * iters, benchmark::Counter::kIsRate);
  if (items_per_iter > 0)
    state.counters["params_per_second"] = benchmark::Counter(items_per_iter * iters, benchmark::Counter::kIsRate);
}

void BM_StreamCopy(benchmark::State& state) {
  Tensor a = touched(kStreamElems, 1.0f, 0.5f), b = touched(kStreamElems, 0.0f, 0.0f);
  const float* src = a.data<float>();
  float* dst = b.data<float>();
  run(state, "Stream/copy", 8.0 * kStreamElems, 0, [&] {
    par(kStreamElems, [&](std::int64_t lo, std::int64_t hi) { Vec(dst + lo, hi - lo) = ConstVec(src + lo, hi - lo); });
  });
}

void BM_StreamCopyNT(benchmark::State& state) {
  Tensor a = touched(kStreamElems, 1.0f, 0.5f), b = touched(kStreamElems, 0.0f, 0.0f);
  const float* src = a.data<float>();
  float* dst = b.data<float>();
  run(state, "Stream/copy_nt", 8.0 * kStreamElems, 0, [&] {
    par(kStreamElems, [&](std::int64_t lo, std::int64_t hi) {
#if defined(__AVX512F__)
      // Scalar stores up to the first 64-byte boundary (streaming stores need alignment).
      std::int64_t i = lo;
      for (; i < hi && (reinterpret_cast<std::uintptr_t>(dst + i) & 63) != 0; ++i) dst[i] = src[i];
      for (; i + 16 <= hi; i += 16) _mm512_stream_ps(dst + i, _mm512_loadu_ps(src + i));
      for (; i < hi; ++i) dst[i] = src[i];
      _mm_sfence();
#else
      Vec(dst + lo, hi - lo) = ConstVec(src + lo, hi - lo);
#endif
    });
  });
}

void BM_StreamTriad(benchmark::State& state) {
  Tensor a = touched(kStreamElems, 0.0f, 0.0f), b = touched(kStreamElems, 1.0f, 0.5f),
         c = touched(kStreamElems, 2.0f, 0.25f);
  float* pa = a.data<float>();
  const float* pb = b.data<float>();
  const float* pc = c.data<float>();
  run(state, "Stream/triad", 12.0 * kStreamElems, 0, [&] {
    par(kStreamElems, [&](std::int64_t lo, std::int64_t hi) {
      Vec(pa + lo, hi - lo) = ConstVec(pb + lo, hi - lo) + 3.0f * ConstVec(pc + lo, hi - lo);
    });
  });
}

struct AdamTensors {
  Tensor p, g, m, v;
  explicit AdamTensors(std::int64_t n)
      : p(touched(n, 0.1f, 1e-4f)), g(touched(n, -0.05f, 1e-4f)), m(touched(n, 0.0f, 1e-5f)), v(touched(n, 1e-4f, 1e-7f)) {}
};

tandem::AdamWArgs bench_args() {
  tandem::AdamWArgs a;
  a.lr = 1e-4f;
  a.weight_decay = 0.01f;
  a.step = 10;
  return a;
}

void BM_AdamWTandem(benchmark::State& state) {
  AdamTensors t(kGpt2Params);
  const tandem::AdamWArgs args = bench_args();
  run(state, "AdamW/tandem_cpu", 28.0 * kGpt2Params, double(kGpt2Params),
      [&] { tandem::cpu_kernels().adamw(t.p, t.g, t.m, t.v, args); });
}

// The same update as four separate whole-array passes (each parallel): what an unfused
// implementation built from array expressions does. 48 bytes/param actually move.
void BM_AdamWUnfused(benchmark::State& state) {
  AdamTensors t(kGpt2Params);
  const tandem::AdamWArgs args = bench_args();
  const double bc1 = 1 - std::pow(double(args.beta1), double(args.step));
  const double bc2 = 1 - std::pow(double(args.beta2), double(args.step));
  const float decay = 1 - args.lr * args.weight_decay, b1 = args.beta1, b2 = args.beta2, eps = args.eps;
  const auto step_size = static_cast<float>(args.lr / bc1);
  const auto isb2 = static_cast<float>(1 / std::sqrt(bc2));
  float* p = t.p.data<float>();
  const float* g = t.g.data<float>();
  float* m = t.m.data<float>();
  float* v = t.v.data<float>();
  const std::int64_t n = kGpt2Params;
  run(state, "AdamW/unfused_eigen", 28.0 * n, double(n), [&] {
    par(n, [&](std::int64_t lo, std::int64_t hi) { Vec(p + lo, hi - lo) *= decay; });
    par(n, [&](std::int64_t lo, std::int64_t hi) {
      Vec(m + lo, hi - lo) = b1 * Vec(m + lo, hi - lo) + (1 - b1) * ConstVec(g + lo, hi - lo);
    });
    par(n, [&](std::int64_t lo, std::int64_t hi) {
      Vec(v + lo, hi - lo) = b2 * Vec(v + lo, hi - lo) + (1 - b2) * ConstVec(g + lo, hi - lo).square();
    });
    par(n, [&](std::int64_t lo, std::int64_t hi) {
      Vec(p + lo, hi - lo) -= step_size * (Vec(m + lo, hi - lo) / (Vec(v + lo, hi - lo).sqrt() * isb2 + eps));
    });
  });
}

void BM_AdamWReference(benchmark::State& state) {
  AdamTensors t(kRefParams);
  const tandem::AdamWArgs args = bench_args();
  run(state, "AdamW/reference_4M", 28.0 * kRefParams, double(kRefParams),
      [&] { tandem::reference_kernels().adamw(t.p, t.g, t.m, t.v, args); });
}

void common(benchmark::internal::Benchmark* b) {
  b->Repetitions(5)->ReportAggregatesOnly(true)->UseRealTime()->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK(BM_StreamCopy)->Name("Stream/copy")->Apply(common);
BENCHMARK(BM_StreamCopyNT)->Name("Stream/copy_nt")->Apply(common);
BENCHMARK(BM_StreamTriad)->Name("Stream/triad")->Apply(common);
BENCHMARK(BM_AdamWTandem)->Name("AdamW/tandem_cpu")->Apply(common);
BENCHMARK(BM_AdamWUnfused)->Name("AdamW/unfused_eigen")->Apply(common);
BENCHMARK(BM_AdamWReference)->Name("AdamW/reference_4M")->Apply(common);
