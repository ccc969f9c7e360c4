// The executor: dependencies and run-once on random DAGs over fake devices, devices running
// at once, fallback to the CPU on device errors (restoring accumulated outputs), fault
// injection by option and environment, CPU errors ending the step, a recorded op graph whose
// faulty run equals a CPU-only run, and the trace and summary of a hand-derived step.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "backends/cpu/cpu_kernels.hpp"
#include "backends/registry.hpp"
#include "graph/recorder.hpp"
#include "sched/executor.hpp"
#include "sched/trace.hpp"
#include "tandem/error.hpp"

namespace tandem::sched {
namespace {

using graph::Region;
using graph::Task;
using graph::TaskGraph;
using graph::TaskId;

// Two fake devices: reference backends with their own identity, run by executor workers.
struct FakeDevices {
  std::unique_ptr<OpKernels> a = open_backend("reference"), b = open_backend("reference");
  std::vector<Device> list() { return {{"cpu", &cpu_kernels(), true}, {"fake:1", a.get(), false}, {"fake:2", b.get(), false}}; }
};

Task make_task(std::vector<Region> reads, std::vector<Region> writes, std::function<void(OpKernels&)> run,
               OpKind kind = OpKind::Gelu) {
  Task t;
  t.kind = kind;
  t.name = std::string(1, 't');
  t.reads = std::move(reads);
  t.writes = std::move(writes);
  t.run = std::move(run);
  return t;
}

Placement place_all(std::size_t n, int device) {
  Placement p;
  p.tasks.assign(n, TaskPlacement{device, "test", 0, false});
  return p;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Random DAG: tasks touching random byte ranges of four buffers, placed at random on three
// devices. Every task must run once, after all its dependencies, on its placed device.
TEST(Executor, RandomDagRespectsDependenciesAndRunsEachTaskOnce) {
  FakeDevices fake;
  std::vector<Device> devices = fake.list();
  for (unsigned seed = 1; seed <= 6; ++seed) {
    std::mt19937 rng(seed);
    std::vector<Tensor> buffers;
    for (int i = 0; i < 4; ++i) buffers.push_back(Tensor::zeros({64}));
    auto random_region = [&] {
      const Tensor& b = buffers[rng() % buffers.size()];
      const std::size_t begin = rng() % 200, len = 1 + rng() % 56;
      return Region{b.storage_id(), begin, begin + len};
    };
    std::mutex m;
    std::vector<std::pair<TaskId, const OpKernels*>> log;
    TaskGraph g;
    const std::size_t n = 150 + 50 * seed;
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<Region> reads, writes;
      for (auto r = rng() % 3; r > 0; --r) reads.push_back(random_region());
      for (auto w = 1 + rng() % 2; w > 0; --w) writes.push_back(random_region());
      const auto id = static_cast<TaskId>(i);
      g.add(make_task(reads, writes, [&, id](OpKernels& k) {
        std::lock_guard lock(m);
        log.emplace_back(id, &k);
      }));
    }
    Placement p;
    for (std::size_t i = 0; i < n; ++i) p.tasks.push_back({static_cast<int>(rng() % 3), "random", 0, false});
    std::size_t edges = 0;
    for (const Task& t : g.tasks()) edges += t.deps.size();
    ASSERT_GT(edges, n) << "the random graph should be dependent enough to test ordering";

    Executor ex(devices);
    const ExecutionReport report = ex.run(g, p);

    ASSERT_EQ(log.size(), n) << "seed " << seed;
    std::vector<std::size_t> position(n, n);
    for (std::size_t i = 0; i < log.size(); ++i) {
      ASSERT_EQ(position[log[i].first], n) << "task " << log[i].first << " ran twice";
      position[log[i].first] = i;
      EXPECT_EQ(log[i].second, devices[static_cast<std::size_t>(p.tasks[log[i].first].device)].kernels);
    }
    for (const Task& t : g.tasks()) {
      EXPECT_EQ(report.runs[t.id].device, p.tasks[t.id].device);
      for (TaskId d : t.deps) {
        EXPECT_LT(position[d], position[t.id]) << "task " << t.id << " ran before its dependency " << d;
        EXPECT_LE(report.runs[d].end_ms, report.runs[t.id].start_ms);
      }
    }
    EXPECT_TRUE(report.fallbacks.empty());
  }
}

// Sleep-based tasks on two devices and the CPU, no dependencies: their intervals overlap.
TEST(Executor, DevicesRunAtOverlappingTimes) {
  FakeDevices fake;
  std::vector<Tensor> out{Tensor::zeros({4}), Tensor::zeros({4}), Tensor::zeros({4})};
  TaskGraph g;
  for (const Tensor& t : out)
    g.add(make_task({}, {graph::region_of(t)}, [](OpKernels&) { std::this_thread::sleep_for(std::chrono::milliseconds(60)); }));
  Placement p = place_all(3, 0);
  p.tasks[1].device = 1;
  p.tasks[2].device = 2;
  Executor ex(fake.list());
  const ExecutionReport r = ex.run(g, p);
  double latest_start = 0, earliest_end = 1e30;
  for (const TaskRun& run : r.runs) {
    latest_start = std::max(latest_start, run.start_ms);
    earliest_end = std::min(earliest_end, run.end_ms);
  }
  EXPECT_LT(latest_start, earliest_end) << "the three tasks did not all run at once";
  EXPECT_LT(r.wall_ms, 170.0) << "three 60 ms tasks ran one after another";
}

// A device task that adds half its result and then fails: the executor restores the output
// from its snapshot and re-runs it on the CPU, so the sum is added exactly once.
TEST(Executor, DeviceErrorRestoresAccumulatedOutputAndFallsBack) {
  FakeDevices fake;
  std::vector<Device> devices = fake.list();
  Tensor acc = Tensor::zeros({64});
  Tensor other = Tensor::zeros({8});
  const OpKernels* flaky = devices[1].kernels;
  TaskGraph g;
  Task t = make_task({}, {graph::region_of(acc)}, [acc, flaky](OpKernels& k) mutable {
    float* a = acc.data<float>();
    if (&k == flaky) {
      for (int i = 0; i < 32; ++i) a[i] += 1.0f;
      throw Error("fake:1: device lost", ErrorCategory::Device);
    }
    for (int i = 0; i < 64; ++i) a[i] += 1.0f;
  }, OpKind::MatMulBackward);
  t.keep = {acc};
  g.add(std::move(t));
  g.add(make_task({graph::region_of(acc)}, {graph::region_of(other)}, [](OpKernels&) {}));
  Executor ex(devices);
  const ExecutionReport r = ex.run(g, place_all(2, 1));

  for (int i = 0; i < 64; ++i) ASSERT_EQ(acc.data<float>()[i], 1.0f) << "element " << i;
  ASSERT_EQ(r.fallbacks.size(), 2u);
  EXPECT_EQ(r.fallbacks[0].task, 0u);
  EXPECT_EQ(r.fallbacks[0].error, "fake:1: device lost");
  EXPECT_EQ(r.fallbacks[1].task, 1u);
  EXPECT_EQ(r.fallbacks[1].error, "fake:1 is unhealthy");
  EXPECT_EQ(r.runs[0].device, 0);
  EXPECT_EQ(r.runs[1].device, 0);
  EXPECT_FALSE(r.healthy[1]);
  EXPECT_FALSE(ex.healthy(1));
  EXPECT_TRUE(ex.healthy(2));
  EXPECT_EQ(r.snapshot_bytes, 64u * sizeof(float));
}

TEST(Executor, UnprotectedAccumulatingFailureEndsTheStep) {
  FakeDevices fake;
  Tensor acc = Tensor::zeros({4});
  TaskGraph g;
  Task t = make_task({}, {graph::region_of(acc)}, [](OpKernels&) { throw Error("lost", ErrorCategory::Device); },
                     OpKind::AdamW);
  t.keep = {acc};
  g.add(std::move(t));
  ExecutorOptions o;
  o.protect_device_outputs = false;
  Executor ex(fake.list(), o);
  EXPECT_EQ(error_of([&] { (void)ex.run(g, place_all(1, 1)); }),
            "task 0 (t) failed on fake:1 and cannot be re-run on the CPU: its accumulated outputs were not saved: lost");
}

// A chain of four device tasks with the second launch failing; K = 2 keeps the device healthy.
TEST(Executor, InjectedFaultHitsTheNthLaunchOnly) {
  FakeDevices fake;
  Tensor x = Tensor::zeros({4});
  std::vector<const OpKernels*> ran(4, nullptr);
  TaskGraph g;
  for (int i = 0; i < 4; ++i)
    g.add(make_task({graph::region_of(x)}, {graph::region_of(x)}, [&ran, i](OpKernels& k) { ran[static_cast<std::size_t>(i)] = &k; }));
  ExecutorOptions o;
  o.fail_device_task = 2;
  o.max_device_failures = 2;
  std::vector<Device> devices = fake.list();
  Executor ex(devices, o);
  const ExecutionReport r = ex.run(g, place_all(4, 1));
  ASSERT_EQ(r.fallbacks.size(), 1u);
  EXPECT_EQ(r.fallbacks[0].task, 1u);
  EXPECT_NE(r.fallbacks[0].error.find("injected fault at device task launch 2"), std::string::npos) << r.fallbacks[0].error;
  EXPECT_EQ(ran[0], devices[1].kernels);
  EXPECT_EQ(ran[1], devices[0].kernels);
  EXPECT_EQ(ran[2], devices[1].kernels);
  EXPECT_EQ(ran[3], devices[1].kernels);
  EXPECT_TRUE(ex.healthy(1));
}

TEST(Executor, FaultInjectionFromEnvironment) {
  FakeDevices fake;
  Tensor x = Tensor::zeros({4});
  TaskGraph g;
  g.add(make_task({}, {graph::region_of(x)}, [](OpKernels&) {}));
  ::setenv("TANDEM_FAULT_DEVICE_TASK", "1", 1);
  Executor ex(fake.list());
  ::setenv("TANDEM_FAULT_DEVICE_TASK", "two", 1);
  const std::string bad = error_of([&] { Executor again(fake.list()); });
  ::unsetenv("TANDEM_FAULT_DEVICE_TASK");
  EXPECT_EQ(bad, "TANDEM_FAULT_DEVICE_TASK: expected a launch number >= 0, got 'two'");
  const ExecutionReport r = ex.run(g, place_all(1, 1));
  ASSERT_EQ(r.fallbacks.size(), 1u);
  EXPECT_EQ(r.runs[0].device, 0);
  EXPECT_FALSE(ex.healthy(1));
}

// An error on the CPU ends the step: its users never run, a running device task finishes.
TEST(Executor, CpuErrorEndsTheStepAfterRunningTasksStop) {
  FakeDevices fake;
  Tensor a = Tensor::zeros({4}), b = Tensor::zeros({4}), c = Tensor::zeros({4});
  std::atomic<bool> user_ran{false}, device_done{false};
  TaskGraph g;
  g.add(make_task({}, {graph::region_of(a)}, [](OpKernels&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    throw Error("cpu task failed");
  }));
  g.add(make_task({graph::region_of(a)}, {graph::region_of(b)}, [&](OpKernels&) { user_ran = true; }));
  g.add(make_task({}, {graph::region_of(c)}, [&](OpKernels&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    device_done = true;
  }));
  Placement p = place_all(3, 0);
  p.tasks[2].device = 1;
  Executor ex(fake.list());
  EXPECT_EQ(error_of([&] { (void)ex.run(g, p); }), "cpu task failed");
  EXPECT_FALSE(user_ran.load());
  EXPECT_TRUE(device_done.load()) << "run() returned while a device task was still running";
}

TEST(Executor, RejectsPlacementsThatDoNotFit) {
  FakeDevices fake;
  Tensor a = Tensor::zeros({4});
  TaskGraph g;
  g.add(make_task({}, {graph::region_of(a)}, [](OpKernels&) {}));
  Executor ex(fake.list());
  EXPECT_EQ(error_of([&] { (void)ex.run(g, place_all(2, 0)); }), "executor: placement has 2 tasks for a graph of 1");
  EXPECT_EQ(error_of([&] { (void)ex.run(g, place_all(1, 3)); }), "executor: task 0 is placed on device 3 of 3");
  EXPECT_EQ(error_of([&] { Executor bad({{"fake:1", fake.a.get(), false}}); }),
            "executor: device 0 must be the CPU (is_cpu), got 'fake:1'");
}

// A small MLP step recorded from op calls: forward, backward into random initial gradients.
struct Mlp {
  Tensor x, w1, w2, h, g, y, dy, dg, dh, dx, dw1, dw2;
  TaskGraph graph;
  std::vector<Tensor> results() const { return {y, dx, dw1, dw2}; }
};

Tensor random_tensor(const Shape& s, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Tensor t = Tensor::empty(s);
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = u(rng);
  return t;
}

Mlp make_mlp() {
  std::mt19937 rng(7);
  Mlp m;
  m.x = random_tensor({16, 32}, rng);
  m.w1 = random_tensor({32, 48}, rng);
  m.w2 = random_tensor({48, 24}, rng);
  m.h = Tensor::zeros({16, 48});
  m.g = Tensor::zeros({16, 48});
  m.y = Tensor::zeros({16, 24});
  m.dy = random_tensor({16, 24}, rng);
  m.dg = Tensor::zeros({16, 48});
  m.dh = Tensor::zeros({16, 48});
  m.dx = random_tensor({16, 32}, rng);
  m.dw1 = random_tensor({32, 48}, rng);
  m.dw2 = random_tensor({48, 24}, rng);
  graph::Recorder rec;
  rec.matmul(m.x, m.w1, m.h, {});
  rec.gelu(m.h, m.g, GeluKind::Tanh);
  rec.matmul(m.g, m.w2, m.y, {});
  rec.matmul_backward(m.g, m.w2, m.dy, m.dg, m.dw2, {});
  rec.gelu_backward(m.h, m.dg, m.dh, GeluKind::Tanh);
  rec.matmul_backward(m.x, m.w1, m.dh, m.dx, m.dw1, {});
  m.graph = rec.take();
  return m;
}

// Each op's fp32 bound is 2u·K·(term size) with K <= 48 and terms <= 32 here (inputs in
// [-1, 1]); four ops chain on the longest path and both runs carry their own error, so
// 2·4·2·2⁻²⁴·48·32 ≈ 1.5e-3 absolute, well under 1e-4 of the outputs' largest magnitude
// (>= 100 here); 1e-4·max|ref| is used.
void expect_close(const std::vector<Tensor>& got, const std::vector<Tensor>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t t = 0; t < got.size(); ++t) {
    const float* a = got[t].data<float>();
    const float* b = want[t].data<float>();
    double max_ref = 0, max_diff = 0;
    for (std::int64_t i = 0; i < want[t].numel(); ++i) {
      max_ref = std::max(max_ref, double(std::abs(b[i])));
      max_diff = std::max(max_diff, double(std::abs(a[i] - b[i])));
    }
    EXPECT_GT(max_ref, 1.0) << "result " << t << " is trivially small";
    EXPECT_LE(max_diff, 1e-4 * max_ref) << "result " << t;
  }
}

std::vector<Tensor> cpu_only_results() {
  Mlp m = make_mlp();
  Executor ex({{"cpu", &cpu_kernels(), true}});
  (void)ex.run(m.graph, place_all(m.graph.size(), 0));
  return m.results();
}

// The device fails at the given launch: the step falls back and equals the CPU-only step.
void check_fallback_matches_cpu(OpKernels& device, const std::string& spec, std::uint64_t fail_at) {
  const std::vector<Tensor> want = cpu_only_results();
  Mlp m = make_mlp();
  ExecutorOptions o;
  o.fail_device_task = fail_at;
  Executor ex({{"cpu", &cpu_kernels(), true}, {spec, &device, false}}, o);
  const ExecutionReport r = ex.run(m.graph, place_all(m.graph.size(), 1));
  expect_close(m.results(), want);
  ASSERT_FALSE(r.fallbacks.empty());
  EXPECT_EQ(r.fallbacks[0].task, fail_at - 1);
  EXPECT_NE(r.fallbacks[0].error.find("injected fault"), std::string::npos);
  EXPECT_EQ(r.fallbacks.size(), m.graph.size() - (fail_at - 1)) << "the failed task and every later one";
  for (TaskId t = 0; t < m.graph.size(); ++t) EXPECT_EQ(r.runs[t].device, t + 1 < fail_at ? 1 : 0) << "task " << t;
  EXPECT_FALSE(r.healthy[1]);
}

TEST(Executor, RecordedStepWithFaultOnFakeDeviceMatchesCpuOnly) {
  auto device = open_backend("reference");
  for (std::uint64_t fail_at : {2u, 4u}) {
    SCOPED_TRACE("fault at launch " + std::to_string(fail_at));
    check_fallback_matches_cpu(*device, "reference", fail_at);
  }
}

TEST(Executor, RecordedStepWithFaultOnOpenclMatchesCpuOnly) {
  std::unique_ptr<OpKernels> device;
  try {
    device = open_backend("opencl:0");
  } catch (const Error& e) {
    GTEST_SKIP() << "no OpenCL device: " << e.what();
  }
  {
    Mlp m = make_mlp();
    Executor ex({{"cpu", &cpu_kernels(), true}, {"opencl:0", device.get(), false}});
    const ExecutionReport r = ex.run(m.graph, place_all(m.graph.size(), 1));
    EXPECT_TRUE(r.fallbacks.empty());
    expect_close(m.results(), cpu_only_results());
  }
  for (std::uint64_t fail_at : {2u, 4u}) {
    SCOPED_TRACE("fault at launch " + std::to_string(fail_at));
    check_fallback_matches_cpu(*device, "opencl:0", fail_at);
  }
}

// cpu writes A (100 B); fake:1 reads A, writes B (40 B); cpu reads B. By hand: 100 bytes
// move host→fake:1 and 40 bytes fake:1→host; FLOPs 10 + 60 on the CPU, 30 on fake:1.
TEST(Trace, HandDerivedStepGivesTransfersSharesAndValidJson) {
  FakeDevices fake;
  std::vector<Device> devices = fake.list();
  Tensor a = Tensor::zeros({25}), b = Tensor::zeros({10}), c = Tensor::zeros({10});
  TaskGraph g;
  auto sleepy = [](OpKernels&) { std::this_thread::sleep_for(std::chrono::milliseconds(2)); };
  Task t0 = make_task({}, {graph::region_of(a)}, sleepy);
  t0.cost.flops = 10;
  Task t1 = make_task({graph::region_of(a)}, {graph::region_of(b)}, sleepy);
  t1.cost.flops = 30;
  t1.scope = {3, Phase::Backward};
  Task t2 = make_task({graph::region_of(b)}, {graph::region_of(c)}, sleepy);
  t2.cost.flops = 60;
  g.add(std::move(t0));
  g.add(std::move(t1));
  g.add(std::move(t2));
  Placement p = place_all(3, 0);
  p.tasks[1] = {1, "rule 1: backward layer 3", 1.5, true};
  Executor ex(devices);
  const ExecutionReport r = ex.run(g, p);

  const std::vector<Transfer> moves = derive_transfers(g, devices, r);
  ASSERT_EQ(moves.size(), 2u);
  EXPECT_EQ(moves[0].task, 1u);
  EXPECT_EQ(moves[0].from, 0);
  EXPECT_EQ(moves[0].to, 1);
  EXPECT_EQ(moves[0].bytes, 100u);
  EXPECT_EQ(moves[1].task, 2u);
  EXPECT_EQ(moves[1].from, 1);
  EXPECT_EQ(moves[1].to, 0);
  EXPECT_EQ(moves[1].bytes, 40u);

  const StepSummary s = summarize(g, devices, r);
  ASSERT_EQ(s.devices.size(), 3u);
  EXPECT_EQ(s.devices[1].bytes_in, 100u);
  EXPECT_EQ(s.devices[1].bytes_out, 40u);
  EXPECT_EQ(s.devices[0].bytes_in, 0u);
  EXPECT_DOUBLE_EQ(s.devices[0].flop_share, 0.7);
  EXPECT_DOUBLE_EQ(s.devices[1].flop_share, 0.3);
  EXPECT_EQ(s.devices[2].tasks, 0u);
  EXPECT_GE(s.devices[0].busy_ms, 4.0);
  EXPECT_LE(s.devices[0].busy_ms, r.wall_ms);
  EXPECT_NEAR(s.devices[1].idle_ms, r.wall_ms - s.devices[1].busy_ms, 1e-9);
  std::ostringstream text;
  print_summary(text, s);
  EXPECT_NE(text.str().find("fake:1"), std::string::npos);

  Trace trace(devices);
  trace.add_step(g, p, r);
  const auto path = std::filesystem::temp_directory_path() /
                    ("tandem-trace-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + ".json");
  trace.write(path);
  std::ifstream in(path);
  const nlohmann::json j = nlohmann::json::parse(in);
  std::filesystem::remove(path);

  std::map<int, std::string> tracks;
  int complete = 0, flow_start = 0, flow_end = 0;
  std::vector<std::uint64_t> transfer_bytes;
  for (const auto& e : j.at("traceEvents")) {
    const std::string ph = e.at("ph");
    if (ph == "M" && e.at("name") == "thread_name") tracks[e.at("tid").get<int>()] = e.at("args").at("name");
    if (ph == "X") {
      ++complete;
      if (e.at("args").at("task") == 1) {
        EXPECT_EQ(e.at("cat"), "backward");
        EXPECT_EQ(e.at("tid"), 2);
        EXPECT_EQ(e.at("args").at("layer"), 3);
        EXPECT_EQ(e.at("args").at("reason"), "rule 1: backward layer 3");
        EXPECT_EQ(e.at("args").at("modeled"), true);
        EXPECT_DOUBLE_EQ(e.at("args").at("predicted_ms").get<double>(), 1.5);
      }
    }
    if (ph == "s") ++flow_start;
    if (ph == "f") ++flow_end;
    if (e.value("cat", "") == "transfer") transfer_bytes.push_back(e.at("args").at("bytes"));
  }
  EXPECT_EQ(tracks[1], "cpu");
  EXPECT_EQ(tracks[2], "fake:1");
  EXPECT_EQ(tracks[3], "fake:2");
  EXPECT_NE(tracks[4].find("transfers"), std::string::npos);
  EXPECT_EQ(complete, 3);
  EXPECT_EQ(flow_start, 2);
  EXPECT_EQ(flow_end, 2);
  EXPECT_EQ(transfer_bytes, (std::vector<std::uint64_t>{100, 40}));
}

}  // namespace
}  // namespace tandem::sched
