#pragma once
// Where each task of a step graph runs, and why. Policies (policy.hpp) produce it; the
// executor (executor.hpp) runs it; --explain prints it.

#include <string>
#include <vector>

#include "graph/task_graph.hpp"
#include "ops/op_kernels.hpp"

namespace tandem::sched {

// A device the scheduler can place tasks on. Index 0 is always the CPU backend.
struct Device {
  std::string spec;     // "cpu", "opencl:0"
  OpKernels* kernels;   // the backend that runs its tasks
  bool is_cpu = false;  // shares memory with the host: no transfer to or from it
};

struct TaskPlacement {
  int device = 0;             // index into the device list
  std::string reason;         // "policy cpu", "rule 2: matmul layers 6-11", "heft: 1.2 ms vs 3.4 ms", "fallback: ..."
  double predicted_ms = 0;    // the cost model's estimate on that device (0 when unknown)
  bool modeled = false;       // predicted from the analytical FPGA model, not measured
};

struct Placement {
  std::vector<TaskPlacement> tasks;  // one per task, by TaskId
  double predicted_step_ms = 0;      // the policy's predicted makespan (0 when it has none)
};

}  // namespace tandem::sched
