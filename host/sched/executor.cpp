#include "sched/executor.hpp"

#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <queue>
#include <thread>
#include <utility>

#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_group.h>

#include "core/tsan.hpp"
#include "tandem/error.hpp"

namespace tandem::sched {

using graph::TaskId;
using Clock = std::chrono::steady_clock;

bool overwrites_outputs(OpKind kind) noexcept {
  switch (kind) {
    case OpKind::Embedding:
    case OpKind::BiasAdd:
    case OpKind::LayerNorm:
    case OpKind::Gelu:
    case OpKind::Softmax:
    case OpKind::Attention:
    case OpKind::ResidualAdd:
    case OpKind::Dropout:
    case OpKind::CrossEntropy:
    case OpKind::MeanPool:
    case OpKind::FirstTokenPool:
      return true;
    default:
      return false;
  }
}

namespace {

std::uint64_t fault_from_env() {
  const char* text = std::getenv("TANDEM_FAULT_DEVICE_TASK");
  if (text == nullptr || *text == '\0') return 0;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(text, &end, 10);
  if (*end != '\0' || text[0] == '-')
    throw Error("TANDEM_FAULT_DEVICE_TASK: expected a launch number >= 0, got '" + std::string(text) + "'");
  return n;
}

// A task's outputs copied before a device launch, restored if the launch fails.
struct Snapshot {
  std::vector<std::pair<Tensor, Tensor>> saved;  // (output, its copy)
  bool complete = true;                         // every write region had a tensor to copy
  std::uint64_t bytes = 0;
};

bool aliases(const graph::Task& t) {
  for (const graph::Region& w : t.writes)
    for (const graph::Region& r : t.reads)
      if (w.overlaps(r)) return true;
  return false;
}

bool needs_snapshot(const graph::Task& t) { return !overwrites_outputs(t.kind) || aliases(t); }

Snapshot take_snapshot(const graph::Task& t) {
  Snapshot s;
  for (const graph::Region& w : t.writes) {
    const Tensor* found = nullptr;
    for (const Tensor& k : t.keep) {
      if (!k.defined()) continue;
      const graph::Region r = graph::region_of(k);
      if (r.storage == w.storage && r.begin == w.begin && r.end == w.end) {
        found = &k;
        break;
      }
    }
    if (found == nullptr) {
      s.complete = false;
      continue;
    }
    s.saved.emplace_back(*found, found->clone());
    s.bytes += found->nbytes();
  }
  return s;
}

void restore(Snapshot& s) {
  for (auto& [output, copy] : s.saved) output.copy_from(copy);
}

std::string task_label(const graph::Task& t) { return "task " + std::to_string(t.id) + " (" + t.name + ")"; }

}  // namespace

// The state of one run(): ready counts, device queues, the error that stops the step.
struct Executor::Step {
  struct Queue {
    std::mutex m;
    std::condition_variable cv;
    std::priority_queue<TaskId, std::vector<TaskId>, std::greater<>> ready;  // lowest id first
    bool closed = false;
    std::thread worker;
  };

  Executor& ex;
  const graph::TaskGraph& g;
  const Placement& p;
  const RunHooks& hooks;
  tbb::task_group tg;
  std::unique_ptr<std::atomic<std::uint32_t>[]> pending;  // unfinished deps per task
  std::atomic<std::size_t> remaining{0};                  // tasks not finished
  std::atomic<std::size_t> active{0};                     // tasks made ready and not finished
  std::atomic<bool> stopped{false};
  std::vector<std::unique_ptr<Queue>> queues;  // per device; null for CPU devices

  std::mutex m;  // guards the fields below and the calling thread's wake-ups
  std::condition_variable cv;
  std::uint64_t cpu_epoch = 0;  // bumped when a worker thread enqueues CPU work
  std::optional<Error> error;
  ExecutionReport report;  // runs: each entry written by the one thread that ran the task

  Step(Executor& e, const graph::TaskGraph& graph, const Placement& placement, const RunHooks& h)
      : ex(e), g(graph), p(placement), hooks(h), pending(new std::atomic<std::uint32_t>[graph.size()]) {
    for (std::size_t i = 0; i < g.size(); ++i) pending[i].store(static_cast<std::uint32_t>(g.tasks()[i].deps.size()));
    remaining.store(g.size());
    report.runs.resize(g.size());
  }

  [[nodiscard]] double ms_since_start(Clock::time_point t) const {
    return std::chrono::duration<double, std::milli>(t - report.start).count();
  }
  [[nodiscard]] bool is_cpu(int device) const { return ex.devices_[static_cast<std::size_t>(device)].is_cpu; }
  [[nodiscard]] bool done() const {
    return remaining.load() == 0 || (stopped.load() && active.load() == 0);
  }

  void record_fallback(Fallback f) {
    std::lock_guard lock(m);
    report.fallbacks.push_back(std::move(f));
  }

  // The device a ready task runs on: host work and tasks of unhealthy devices go to the CPU.
  int target(TaskId id) {
    const graph::Task& t = g[id];
    if (t.host_only) return 0;
    const int d = p.tasks[id].device;
    if (is_cpu(d) || ex.healthy(d)) return d;
    const double now = ms_since_start(Clock::now());
    record_fallback({id, d, ex.devices_[static_cast<std::size_t>(d)].spec + " is unhealthy", now, now});
    return 0;
  }

  void stop(Error e) {
    std::lock_guard lock(m);
    if (!error) error = std::move(e);
    stopped.store(true);
  }

  void wake_caller(bool cpu_work) {
    {
      std::lock_guard lock(m);
      if (cpu_work) ++cpu_epoch;
    }
    cv.notify_all();
  }

  void finished() {
    const std::size_t left = remaining.fetch_sub(1) - 1;
    const std::size_t running = active.fetch_sub(1) - 1;
    if (left == 0 || (running == 0 && stopped.load())) wake_caller(false);
  }

  // @p in_arena: the caller is a oneTBB task of this step (or the caller inside the arena),
  // so CPU work can be spawned locally; worker threads enqueue it into the arena instead.
  void submit_cpu(TaskId id, int device, bool in_arena) {
    // core/tsan.hpp: the hand-off to a TBB worker, stated for ThreadSanitizer.
    auto work = [this, id, device] {
      tsan::acquire(&tsan::kHandOff);
      cpu_task(id, device);
      tsan::release(&tsan::kTaskDone);
    };
    if (in_arena) {
      tsan::release(&tsan::kHandOff);
      tg.run(std::move(work));
    } else {
      tbb::task_handle task = tg.defer(std::move(work));
      tsan::release(&tsan::kHandOff);
      ex.arena_->enqueue(std::move(task));
      wake_caller(true);
    }
  }

  void make_ready(TaskId id, bool in_arena) {
    if (stopped.load()) return;
    dispatch(id, target(id), in_arena);
  }

  void dispatch(TaskId id, int device, bool in_arena) {
    active.fetch_add(1);
    if (is_cpu(device)) {
      submit_cpu(id, device, in_arena);
      return;
    }
    Queue& q = *queues[static_cast<std::size_t>(device)];
    {
      std::lock_guard lock(q.m);
      q.ready.push(id);
    }
    q.cv.notify_one();
  }

  // Releases the users of @p id. In the arena, one CPU user that became ready is handed back
  // to run on this thread next, which makes a chain cost no task spawns.
  std::optional<std::pair<TaskId, int>> complete(TaskId id, bool in_arena) {
    notify_done(id);
    std::optional<std::pair<TaskId, int>> next;
    for (TaskId u : g[id].users) {
      if (pending[u].fetch_sub(1) != 1) continue;
      if (!in_arena || next || stopped.load()) {
        make_ready(u, in_arena);
        continue;
      }
      const int d = target(u);
      if (is_cpu(d)) {
        active.fetch_add(1);
        next.emplace(u, d);
      } else {
        dispatch(u, d, in_arena);
      }
    }
    finished();
    return next;
  }

  void notify_done(TaskId id) {
    if (!hooks.on_task_done || report.runs[id].device < 0) return;
    try {
      hooks.on_task_done(id);
    } catch (const Error& e) {
      stop(e);
    } catch (const std::exception& e) {
      stop(Error("executor: the task-done hook of " + task_label(g[id]) + " failed: " + e.what(), ErrorCategory::Internal));
    }
  }

  void run_on_cpu(TaskId id, int device) {
    if (stopped.load()) return;
    const graph::Task& t = g[id];
    const Clock::time_point start = Clock::now();
    try {
      t.run(*ex.devices_[static_cast<std::size_t>(device)].kernels);
    } catch (const Error& e) {
      stop(e);
      return;
    } catch (const std::exception& e) {
      stop(Error(task_label(t) + " on " + ex.devices_[static_cast<std::size_t>(device)].spec + ": " + e.what(),
                 ErrorCategory::Internal));
      return;
    }
    report.runs[id] = {device, ms_since_start(start), ms_since_start(Clock::now())};
  }

  void cpu_task(TaskId id, int device) {
    std::optional<std::pair<TaskId, int>> next{{id, device}};
    while (next) {
      const auto [t, d] = *next;
      run_on_cpu(t, d);
      next = complete(t, true);
    }
  }

  // A device task failed: restore its outputs and send it to the CPU, or stop the step when
  // its outputs cannot be restored.
  void fall_back(TaskId id, int device, const std::string& what, Snapshot& snapshot, double start_ms) {
    const graph::Task& t = g[id];
    const double end_ms = ms_since_start(Clock::now());
    const std::string& spec = ex.devices_[static_cast<std::size_t>(device)].spec;
    if (needs_snapshot(t) && !snapshot.complete) {
      stop(Error(task_label(t) + " failed on " + spec + " and cannot be re-run on the CPU: its accumulated outputs were not saved: " + what,
                 ErrorCategory::Device));
      finished();
      return;
    }
    restore(snapshot);
    ex.failures_[static_cast<std::size_t>(device)].fetch_add(1);  // healthy() compares it with K
    record_fallback({id, device, what, start_ms, end_ms});
    submit_cpu(id, 0, false);
  }

  void run_on_device(TaskId id, int device) {
    if (stopped.load()) {
      finished();
      return;
    }
    if (!ex.healthy(device)) {
      const double now = ms_since_start(Clock::now());
      record_fallback({id, device, ex.devices_[static_cast<std::size_t>(device)].spec + " is unhealthy", now, now});
      submit_cpu(id, 0, false);
      return;
    }
    const graph::Task& t = g[id];
    const Device& dev = ex.devices_[static_cast<std::size_t>(device)];
    const std::uint64_t launch = ex.launches_.fetch_add(1) + 1;
    if (launch == ex.fail_at_) {
      // Thrown before the task runs: its outputs are untouched, so no snapshot is needed.
      Snapshot untouched;
      const double now = ms_since_start(Clock::now());
      fall_back(id, device,
                "executor: injected fault at device task launch " + std::to_string(launch) + ", " + task_label(t) +
                    " on " + dev.spec,
                untouched, now);
      return;
    }
    Snapshot snapshot;
    if (ex.options_.protect_device_outputs && needs_snapshot(t)) {
      snapshot = take_snapshot(t);
      std::lock_guard lock(m);
      report.snapshot_bytes += snapshot.bytes;
    } else {
      snapshot.complete = false;
    }
    const Clock::time_point start = Clock::now();
    try {
      t.run(*dev.kernels);
    } catch (const std::exception& e) {
      fall_back(id, device, e.what(), snapshot, ms_since_start(start));
      return;
    }
    report.runs[id] = {device, ms_since_start(start), ms_since_start(Clock::now())};
    complete(id, false);
  }

  void device_worker(int device) {
    Queue& q = *queues[static_cast<std::size_t>(device)];
    for (;;) {
      TaskId id = 0;
      {
        std::unique_lock lock(q.m);
        q.cv.wait(lock, [&] { return q.closed || !q.ready.empty(); });
        if (q.ready.empty()) return;
        id = q.ready.top();
        q.ready.pop();
      }
      run_on_device(id, device);
    }
  }

  void start_workers() {
    std::vector<bool> used(ex.devices_.size(), false);
    for (const TaskPlacement& tp : p.tasks) used[static_cast<std::size_t>(tp.device)] = true;
    queues.resize(ex.devices_.size());
    for (std::size_t d = 0; d < ex.devices_.size(); ++d)
      if (used[d] && !ex.devices_[d].is_cpu) queues[d] = std::make_unique<Queue>();
    for (std::size_t d = 0; d < queues.size(); ++d)
      if (queues[d]) queues[d]->worker = std::thread([this, d] { device_worker(static_cast<int>(d)); });
  }

  void stop_workers() {
    for (auto& q : queues) {
      if (!q) continue;
      {
        std::lock_guard lock(q->m);
        q->closed = true;
      }
      q->cv.notify_all();
    }
    for (auto& q : queues)
      if (q && q->worker.joinable()) q->worker.join();
  }

  // The calling thread: starts the roots, then helps with CPU work while there is some and
  // sleeps on the condition variable otherwise, until every task finished or the step stopped.
  void drive() {
    ex.arena_->execute([&] {
      for (const graph::Task& t : g.tasks())
        if (t.deps.empty()) make_ready(t.id, true);
      tg.wait();
    });
    std::uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return done() || cpu_epoch != seen; });
        if (done()) break;
        seen = cpu_epoch;
      }
      ex.arena_->execute([&] { tg.wait(); });
    }
    ex.arena_->execute([&] { tg.wait(); });
    tsan::acquire(&tsan::kTaskDone);
  }
};

Executor::Executor(std::vector<Device> devices, ExecutorOptions options)
    : devices_(std::move(devices)), options_(options) {
  if (devices_.empty() || !devices_[0].is_cpu)
    throw Error("executor: device 0 must be the CPU (is_cpu), got " +
                (devices_.empty() ? std::string("no devices") : "'" + devices_[0].spec + "'"));
  for (const Device& d : devices_)
    if (d.kernels == nullptr) throw Error("executor: device '" + d.spec + "' has no kernels");
  if (devices_.size() > 32) throw Error("executor: at most 32 devices, got " + std::to_string(devices_.size()));
  if (options_.cpu_threads < 0)
    throw Error("executor: cpu_threads must be >= 0, got " + std::to_string(options_.cpu_threads));
  if (options_.max_device_failures < 1)
    throw Error("executor: max_device_failures must be >= 1, got " + std::to_string(options_.max_device_failures));
  fail_at_ = options_.fail_device_task != 0 ? options_.fail_device_task : fault_from_env();
  const int threads = options_.cpu_threads > 0 ? options_.cpu_threads : tbb::info::default_concurrency();
  arena_ = std::make_unique<tbb::task_arena>(threads);
  failures_.reset(new std::atomic<int>[devices_.size()]);
  for (std::size_t d = 0; d < devices_.size(); ++d) failures_[d].store(0);
}

Executor::~Executor() = default;

bool Executor::healthy(int device) const noexcept {
  if (device < 0 || static_cast<std::size_t>(device) >= devices_.size()) return false;
  return failures_[static_cast<std::size_t>(device)].load() < options_.max_device_failures;
}

ExecutionReport Executor::run(const graph::TaskGraph& graph, const Placement& placement, const RunHooks& hooks) {
  if (placement.tasks.size() != graph.size())
    throw Error("executor: placement has " + std::to_string(placement.tasks.size()) + " tasks for a graph of " +
                std::to_string(graph.size()));
  for (std::size_t i = 0; i < placement.tasks.size(); ++i) {
    const int d = placement.tasks[i].device;
    if (d < 0 || static_cast<std::size_t>(d) >= devices_.size())
      throw Error("executor: task " + std::to_string(i) + " is placed on device " + std::to_string(d) + " of " +
                  std::to_string(devices_.size()));
  }

  Step step(*this, graph, placement, hooks);
  step.report.start = Clock::now();
  if (graph.size() > 0) {
    step.start_workers();
    step.drive();
    step.stop_workers();
  }
  step.report.wall_ms = step.ms_since_start(Clock::now());
  for (std::size_t d = 0; d < devices_.size(); ++d) step.report.healthy.push_back(healthy(static_cast<int>(d)));
  if (step.error) throw *step.error;
  return std::move(step.report);
}

}  // namespace tandem::sched
