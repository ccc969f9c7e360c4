#pragma once
// Runs one step's TaskGraph under a Placement on a list of Devices, all devices at once.
//
// CPU-placed and host-only tasks run as oneTBB tasks in an arena sized to the CPU thread
// budget; the calling thread joins that arena while CPU work is pending and otherwise
// sleeps on a condition variable until the step ends (no busy-wait). Each non-CPU device
// has a worker thread that takes its ready tasks lowest id first, so a device follows the
// model's program order (ids are a topological order). Ready counts are atomic.
//
// Faults: a task that throws on a non-CPU device is re-run on the CPU (device 0). Inputs are
// still valid (a task writes only its outputs), but an op that accumulates into its outputs
// (backward ops, AdamW, LoRA, matmul with beta) may have added part of its result before
// failing. Since a fault cannot be predicted (a lost device looks like any other launch), the
// executor copies the outputs of every such device task before launching it and restores
// them on failure; ops that overwrite their outputs need no copy. bench_dispatch measures the
// copy (BM_SnapshotAccumulatingOutputs). After max_device_failures failures a device is
// unhealthy for the executor's lifetime and its remaining tasks go to the CPU. Every task
// that left its placed device is listed in the report. An error on the CPU ends the step:
// no new task starts, running ones finish, and run() throws that error.
//
// Hooks: RunHooks::on_task_done is called once per task that ran to completion, on the thread
// that finished it (a oneTBB worker, the caller, or a device worker), before the task's users
// are released. It lets a caller act while the rest of the graph runs (data parallelism starts
// a gradient bucket's allreduce as soon as its last writer finished) without the executor
// polling anything. It must be cheap and thread-safe; an exception it throws stops the step
// like a task error.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <oneapi/tbb/task_arena.h>

#include "graph/task_graph.hpp"
#include "ops/op_kind.hpp"
#include "sched/placement.hpp"

namespace tandem::sched {

struct ExecutorOptions {
  int cpu_threads = 0;          // the oneTBB arena's concurrency; 0: oneTBB's default (every core)
  int max_device_failures = 1;  // K: failed tasks after which a device is unhealthy
  // Test hook: N >= 1 makes the N-th device task launch of this executor (counted over its
  // lifetime, from 1) throw a Device error before the task runs. 0: read the environment
  // variable TANDEM_FAULT_DEVICE_TASK, unset or 0 meaning no injected fault.
  std::uint64_t fail_device_task = 0;
  // Copy the outputs of accumulating device tasks before launch (see above). Without it, a
  // failed accumulating task cannot be re-run and ends the step with an error.
  bool protect_device_outputs = true;
};

// Where and when one task ran; times in ms from the step's start.
struct TaskRun {
  int device = -1;  // the device that ran it to completion; -1: it did not run (the step stopped)
  double start_ms = 0, end_ms = 0;
};

// A task that left the device it was placed on.
struct Fallback {
  graph::TaskId task = 0;
  int device = 0;          // the device it was placed on
  std::string error;       // why: the device's error text, or the device being unhealthy
  double start_ms = 0;     // the failed attempt on the device (start == end: never launched)
  double end_ms = 0;
};

struct ExecutionReport {
  std::chrono::steady_clock::time_point start;  // the step's start, for traces of several steps
  double wall_ms = 0;
  std::vector<TaskRun> runs;            // by TaskId
  std::vector<Fallback> fallbacks;      // in the order they happened
  std::vector<bool> healthy;            // per device, at the end of the step
  std::uint64_t snapshot_bytes = 0;     // output bytes copied to protect device tasks
};

// Callbacks of one Executor::run (see the header comment).
struct RunHooks {
  std::function<void(graph::TaskId)> on_task_done;
};

// True for ops whose outputs are fully overwritten (forward ops without accumulation): a
// failed attempt leaves nothing the re-run depends on. Others read their outputs too.
[[nodiscard]] bool overwrites_outputs(OpKind kind) noexcept;

class Executor {
 public:
  // @p devices: index 0 must be the CPU (is_cpu); every device needs kernels.
  explicit Executor(std::vector<Device> devices, ExecutorOptions options = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Runs every task of @p graph once, on the device @p placement gives it (host-only tasks
  // and tasks of unhealthy devices on the CPU), and returns where and when each ran. Throws
  // the first error of a task on the CPU, or an InvalidArgument error for a placement that
  // does not fit the graph or the devices. @p hooks are called as documented above.
  ExecutionReport run(const graph::TaskGraph& graph, const Placement& placement, const RunHooks& hooks = {});

  [[nodiscard]] const std::vector<Device>& devices() const noexcept { return devices_; }
  [[nodiscard]] bool healthy(int device) const noexcept;

 private:
  struct Step;

  std::vector<Device> devices_;
  ExecutorOptions options_;
  std::uint64_t fail_at_ = 0;  // the injected fault's launch number; 0: none
  std::unique_ptr<tbb::task_arena> arena_;
  std::unique_ptr<std::atomic<int>[]> failures_;  // per device
  std::atomic<std::uint64_t> launches_{0};        // device task launches so far
};

}  // namespace tandem::sched
