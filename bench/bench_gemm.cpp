// Benchmark: tandem::cpu::sgemm vs OpenBLAS cblas_sgemm, same binary, same
// run, same thread count.
//
// Threads: environment variable TANDEM_THREADS (default 2). Tandem is limited
// with tbb::global_control, OpenBLAS with openblas_set_num_threads.
//
// Each benchmark reports a GFLOP/s rate (2*M*N*K per call, wall-clock time);
// with the default settings only the aggregates (mean/median/stddev/cv over
// kRepetitions repetitions) are printed — compare the *_median rows.
//
//   TANDEM_THREADS=2 ./bench_gemm --benchmark_filter='1024x1024x1024'
//
// Names: sgemm/<impl>/<form>/<MxNxK>[/<tag>] where form is NN, NT (B
// transposed), TN (A transposed); tags give the GPT-2 small layer and pass.

#include <benchmark/benchmark.h>
#include <cblas.h>
#include <oneapi/tbb/global_control.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/gemm.hpp"

// Declared by OpenBLAS's cblas.h, but redeclare in case the generic cblas.h
// (without OpenBLAS extensions) is found first.
extern "C" void openblas_set_num_threads(int num_threads);

namespace {

using i64 = std::int64_t;

constexpr double kMinTimeSeconds = 0.2;
constexpr int kRepetitions = 5;

int bench_threads() {
  static const int threads = [] {
    const char* env = std::getenv("TANDEM_THREADS");
    if (env != nullptr) {
      const int v = std::atoi(env);
      if (v > 0) return v;
    }
    return 2;
  }();
  return threads;
}

enum class Impl { kTandem, kOpenBlas };

struct Case {
  i64 M, N, K;
  bool ta, tb;
  std::string tag;
};

struct Operands {
  std::vector<float> A, B, C;
  explicit Operands(const Case& c) {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    A.resize(static_cast<std::size_t>(c.M * c.K));
    B.resize(static_cast<std::size_t>(c.K * c.N));
    C.assign(static_cast<std::size_t>(c.M * c.N), 0.0f);
    for (float& x : A) x = dist(rng);
    for (float& x : B) x = dist(rng);
  }
};

void run_case(benchmark::State& state, Impl impl, const Case& c) {
  const int threads = bench_threads();
  tbb::global_control tbb_limit(tbb::global_control::max_allowed_parallelism,
                                static_cast<std::size_t>(threads));
  openblas_set_num_threads(threads);

  Operands op(c);
  const i64 lda = c.ta ? c.M : c.K;
  const i64 ldb = c.tb ? c.K : c.N;
  const i64 ldc = c.N;
  for (auto _ : state) {
    if (impl == Impl::kTandem) {
      tandem::cpu::sgemm(c.ta, c.tb, c.M, c.N, c.K, 1.0f, op.A.data(), lda, op.B.data(), ldb, 0.0f,
                         op.C.data(), ldc);
    } else {
      cblas_sgemm(CblasRowMajor, c.ta ? CblasTrans : CblasNoTrans, c.tb ? CblasTrans : CblasNoTrans,
                  static_cast<int>(c.M), static_cast<int>(c.N), static_cast<int>(c.K), 1.0f,
                  op.A.data(), static_cast<int>(lda), op.B.data(), static_cast<int>(ldb), 0.0f,
                  op.C.data(), static_cast<int>(ldc));
    }
    benchmark::DoNotOptimize(op.C.data());
    benchmark::ClobberMemory();
  }
  const double gflop =
      2.0 * static_cast<double>(c.M) * static_cast<double>(c.N) * static_cast<double>(c.K) * 1e-9;
  state.counters["GFLOP/s"] = benchmark::Counter(gflop * static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate);
  state.counters["threads"] = threads;
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (i64 n : {256, 512, 768, 1024, 2048}) cases.push_back({n, n, n, false, false, "square"});

  // GPT-2 small (d_model 768): rows = tokens in the batch.
  struct Layer {
    i64 in, out;
    const char* name;
  };
  const Layer layers[] = {
      {768, 768, "attn_proj"}, {768, 2304, "qkv"}, {768, 3072, "mlp_up"}, {3072, 768, "mlp_down"}};
  for (i64 rows : {64, 128, 256, 512, 1024}) {
    for (const Layer& l : layers) {
      const std::string name = l.name;
      // forward:       Y(rows,out)  = X(rows,in) . W(in,out)
      cases.push_back({rows, l.out, l.in, false, false, name + "_fwd"});
      // backward data: dX(rows,in)  = dY(rows,out) . W(in,out)^T
      cases.push_back({rows, l.in, l.out, false, true, name + "_dX"});
      // backward weight: dW(in,out) = X(rows,in)^T . dY(rows,out)
      cases.push_back({l.in, l.out, rows, true, false, name + "_dW"});
    }
  }
  return cases;
}

std::string case_name(const Case& c, const char* impl) {
  const char* form = c.ta ? (c.tb ? "TT" : "TN") : (c.tb ? "NT" : "NN");
  return std::string("sgemm/") + impl + "/" + form + "/" + std::to_string(c.M) + "x" +
         std::to_string(c.N) + "x" + std::to_string(c.K) + "/" + c.tag;
}

// Registers tandem and OpenBLAS back to back for each shape so their
// measurements are taken close together in time on a noisy machine.
const bool kRegistered = [] {
  for (const Case& c : all_cases()) {
    for (Impl impl : {Impl::kTandem, Impl::kOpenBlas}) {
      const char* impl_name = impl == Impl::kTandem ? "tandem" : "openblas";
      benchmark::RegisterBenchmark(case_name(c, impl_name).c_str(),
                                   [impl, c](benchmark::State& state) { run_case(state, impl, c); })
          ->UseRealTime()
          ->MinTime(kMinTimeSeconds)
          ->Repetitions(kRepetitions)
          ->ReportAggregatesOnly(true)
          ->Unit(benchmark::kMicrosecond);
    }
  }
  return true;
}();

}  // namespace
