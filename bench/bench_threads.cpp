// Why oneTBB alone owns the cores: runs the same batch of independent matrix products
// (like per-head attention products) three ways on the machine's cores —
//   TbbOnly:       oneTBB tasks, each running Eigen single-threaded (Tandem's choice);
//   EigenOmpOnly:  one product at a time, Eigen parallel inside with OpenMP;
//   Nested:        oneTBB tasks each running Eigen with OpenMP threads (oversubscribed).
// This target alone is compiled with OpenMP so the comparison can be made.
#include <benchmark/benchmark.h>
#include <omp.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>

#include <Eigen/Dense>
#include <thread>
#include <vector>

namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct Batch {
  std::vector<Matrix> a, b, c;
  explicit Batch(int count, int n) {
    for (int i = 0; i < count; ++i) {
      a.push_back(Matrix::Random(n, n));
      b.push_back(Matrix::Random(n, n));
      c.push_back(Matrix::Zero(n, n));
    }
  }
};

constexpr int kCount = 24;  // GPT-2 small: 12 heads × 2 sequences

void report(benchmark::State& state, int n) {
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * n * kCount * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

int cores() { return static_cast<int>(std::thread::hardware_concurrency()); }

void TbbOnly(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Batch batch(kCount, n);
  Eigen::setNbThreads(1);
  tbb::global_control gc(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(cores()));
  for (auto _ : state)
    tbb::parallel_for(0, kCount, [&](int i) { batch.c[i].noalias() = batch.a[i] * batch.b[i]; });
  report(state, n);
}

void EigenOmpOnly(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Batch batch(kCount, n);
  Eigen::setNbThreads(cores());
  for (auto _ : state)
    for (int i = 0; i < kCount; ++i) batch.c[i].noalias() = batch.a[i] * batch.b[i];
  report(state, n);
  Eigen::setNbThreads(1);
}

void Nested(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Batch batch(kCount, n);
  Eigen::setNbThreads(cores());
  tbb::global_control gc(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(cores()));
  for (auto _ : state)
    tbb::parallel_for(0, kCount, [&](int i) { batch.c[i].noalias() = batch.a[i] * batch.b[i]; });
  report(state, n);
  Eigen::setNbThreads(1);
}

}  // namespace

BENCHMARK(TbbOnly)->Arg(64)->Arg(256)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime()->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(EigenOmpOnly)->Arg(64)->Arg(256)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime()->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(Nested)->Arg(64)->Arg(256)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime()->Repetitions(5)->ReportAggregatesOnly(true);
