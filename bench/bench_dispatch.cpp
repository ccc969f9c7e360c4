// Scheduler overhead: what the executor costs per task on graphs of 10,000 no-op tasks
// (independent chains, fan-outs, and chains that hop between the CPU and a device thread),
// what building the graph costs per task (TaskGraph::add), and what protecting an
// accumulating device task's output costs (the copy the executor takes before launch).
//
// Counters: us_per_task is wall time per task; build_us_per_task likewise for TaskGraph::add.
//   build/bench/bench_dispatch --benchmark_format=json

#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <vector>

#include "backends/cpu/cpu_kernels.hpp"
#include "backends/registry.hpp"
#include "graph/task_graph.hpp"
#include "sched/executor.hpp"

namespace tandem::sched {
namespace {

using graph::Region;
using graph::Task;
using graph::TaskGraph;

constexpr int kTasks = 10'000;

// Tensors whose regions order the tasks; kept alive with the graph.
struct Synthetic {
  std::vector<Tensor> tensors;
  TaskGraph graph;
};

Task noop(std::vector<Region> reads, std::vector<Region> writes) {
  Task t;
  t.kind = OpKind::Gelu;
  t.name = std::string(4, 'n');
  t.reads = std::move(reads);
  t.writes = std::move(writes);
  t.run = [](OpKernels&) {};
  return t;
}

// @p chains chains of @p length tasks, each rewriting its own tensor (write-after-write).
Synthetic make_chains(int chains, int length) {
  Synthetic s;
  for (int c = 0; c < chains; ++c) s.tensors.push_back(Tensor::zeros({1}));
  for (int i = 0; i < length; ++i)
    for (int c = 0; c < chains; ++c) {
      const Region r = graph::region_of(s.tensors[static_cast<std::size_t>(c)]);
      s.graph.add(noop({r}, {r}));
    }
  return s;
}

// @p groups roots, each read by @p width tasks writing their own tensors.
Synthetic make_fanouts(int groups, int width) {
  Synthetic s;
  for (int g = 0; g < groups; ++g) {
    s.tensors.push_back(Tensor::zeros({1}));
    const Region root = graph::region_of(s.tensors.back());
    s.graph.add(noop({}, {root}));
    for (int w = 0; w < width; ++w) {
      s.tensors.push_back(Tensor::zeros({1}));
      s.graph.add(noop({root}, {graph::region_of(s.tensors.back())}));
    }
  }
  return s;
}

void run_executor(benchmark::State& state, const TaskGraph& g, const Placement& p, std::vector<Device> devices) {
  Executor ex(std::move(devices));
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) benchmark::DoNotOptimize(ex.run(g, p));
  const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  state.counters["tasks"] = double(g.size());
  state.counters["us_per_task"] = us / (double(state.iterations()) * double(g.size()));
}

Placement all_on(std::size_t n, int device) {
  Placement p;
  p.tasks.assign(n, TaskPlacement{device, "bench", 0, false});
  return p;
}

void BM_DispatchChainsCpu(benchmark::State& state) {
  const Synthetic s = make_chains(int(state.range(0)), kTasks / int(state.range(0)));
  run_executor(state, s.graph, all_on(s.graph.size(), 0), {{"cpu", &cpu_kernels(), true}});
}
BENCHMARK(BM_DispatchChainsCpu)->Arg(1)->Arg(100)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DispatchFanoutCpu(benchmark::State& state) {
  const Synthetic s = make_fanouts(100, 99);
  run_executor(state, s.graph, all_on(s.graph.size(), 0), {{"cpu", &cpu_kernels(), true}});
}
BENCHMARK(BM_DispatchFanoutCpu)->Unit(benchmark::kMillisecond)->UseRealTime();

// Every task on a device worker thread (a reference backend stands in for the device).
void BM_DispatchChainsDevice(benchmark::State& state) {
  auto device = open_backend("reference");
  const Synthetic s = make_chains(100, kTasks / 100);
  run_executor(state, s.graph, all_on(s.graph.size(), 1),
               {{"cpu", &cpu_kernels(), true}, {"fake:1", device.get(), false}});
}
BENCHMARK(BM_DispatchChainsDevice)->Unit(benchmark::kMillisecond)->UseRealTime();

// Chains whose tasks alternate between the CPU and the device: every task is a hand-off
// between oneTBB and the device thread, the worst case.
void BM_DispatchChainsAlternating(benchmark::State& state) {
  auto device = open_backend("reference");
  const Synthetic s = make_chains(int(state.range(0)), kTasks / int(state.range(0)));
  Placement p = all_on(s.graph.size(), 0);
  for (std::size_t i = 0; i < p.tasks.size(); ++i) p.tasks[i].device = int((i / std::size_t(state.range(0))) % 2);
  run_executor(state, s.graph, p, {{"cpu", &cpu_kernels(), true}, {"fake:1", device.get(), false}});
}
BENCHMARK(BM_DispatchChainsAlternating)->Arg(1)->Arg(100)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_GraphBuild(benchmark::State& state) {
  std::size_t n = 0;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    Synthetic s = state.range(0) == 0 ? make_chains(100, kTasks / 100) : make_fanouts(100, 99);
    n = s.graph.size();
    benchmark::DoNotOptimize(s.graph.tasks().data());
  }
  state.SetLabel(state.range(0) == 0 ? "chains" : "fanouts");
  const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  state.counters["build_us_per_task"] = us / (double(state.iterations()) * double(n));
}
BENCHMARK(BM_GraphBuild)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// The snapshot an accumulating device task costs: one copy of its outputs. Sizes: a GPT-2
// small MLP weight gradient (768 x 3072 f32, matmul_backward's db), and AdamW's param + m + v
// for that weight.
void BM_SnapshotAccumulatingOutputs(benchmark::State& state) {
  std::vector<Tensor> outputs;
  for (int i = 0; i < state.range(0); ++i) outputs.push_back(Tensor::zeros({768, 3072}));
  for (auto _ : state)
    for (const Tensor& t : outputs) benchmark::DoNotOptimize(t.clone());
  state.SetBytesProcessed(state.iterations() * state.range(0) * 768 * 3072 * 4);
  state.SetLabel(state.range(0) == 1 ? "matmul_backward dW" : "adamw param+m+v");
}
BENCHMARK(BM_SnapshotAccumulatingOutputs)->Arg(1)->Arg(3)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace tandem::sched
