#pragma once
// Placement policies: which device runs each task of a step graph, and why.
//   cpu        everything on the CPU;
//   fpga       every task the first non-CPU device can run (all but host work) on it;
//   rules:FILE the last matching rule of a rules file (rules.hpp), the CPU when none matches;
//   heft       (default) earliest finish time in upward-rank order (Topcuoglu et al.'s HEFT,
//              as in StarPU's dmda): each task goes to the device where it would finish first,
//              in the earliest idle slot there (insertion) after its inputs' producers and
//              the copies of the bytes the device lacks (residency.hpp), plus the predicted
//              run time.
// Every policy's plan is simulated with the same timing model, so all report a predicted
// step time and each task its predicted run time.

#include <algorithm>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>

#include "graph/task_graph.hpp"
#include "sched/cost_model.hpp"
#include "sched/placement.hpp"
#include "sched/residency.hpp"
#include "sched/rules.hpp"

namespace tandem::sched {

enum class PolicyKind { Cpu, Fpga, Rules, Heft };

struct Policy {
  PolicyKind kind = PolicyKind::Heft;
  Rules rules;  // PolicyKind::Rules
};

// "cpu", "fpga", "heft" or "rules:FILE" (the file is read now). Anything else is an error
// naming the spec.
Policy parse_policy(std::string_view spec);

struct PolicyOptions {
  // A placement that cannot be honoured (a rule or the fpga policy naming a device that
  // cannot run the task or is not open) is an error naming the task and the rule instead of
  // falling back to the CPU.
  bool strict = false;
  // The plan is for the process's first step: non-CPU devices are free only after their
  // startup (bitstream load).
  bool first_step = false;
};

// Places every task of @p graph on one of @p devices (index 0: the CPU), predicting with
// @p cost (one entry per device) and starting from, and updating, @p residency.
Placement place(const Policy& policy, const graph::TaskGraph& graph, std::span<const Device> devices,
                const CostModel& cost, Residency& residency, const PolicyOptions& options = {});

Placement place_cpu(const graph::TaskGraph& graph);
// The device specs and kinds come from @p cost, whose entries match the device list.
Placement place_fpga(const graph::TaskGraph& graph, const CostModel& cost, const PolicyOptions& options);
Placement place_rules(const graph::TaskGraph& graph, const CostModel& cost, const Rules& rules,
                      const PolicyOptions& options);
Placement place_heft(const graph::TaskGraph& graph, const CostModel& cost, Residency& residency,
                     const PolicyOptions& options);

// Fills the predicted run times and step time of a fixed @p placement by list-scheduling it
// in upward-rank order with the timing model heft uses; @p residency ends as the step leaves it.
void simulate(const graph::TaskGraph& graph, Placement& placement, const CostModel& cost, Residency& residency,
              const PolicyOptions& options = {});

// Lower bounds on any placement's step time under the timing model above (startup ignored;
// every device, the CPU included, runs one task at a time). Each is valid on its own:
//  - work: the least T such that all tasks, each split fractionally between the devices at
//    their predicted speeds, fit in T on every device (exact for that relaxation with two
//    devices; Σ fastest / D otherwise, which it never undercuts), and at least the longest task;
//  - critical_path: the longest dependency chain with every task at its fastest device and
//    no transfers, where a task with several dependencies also starts no earlier than their
//    earliest start plus the work bound of that set (parallel branches that join, such as
//    the q, k, v matmuls, share the devices);
//  - critical_path_transfers: the same, but each task's earliest finish on each device also
//    counts, per dependency, the copy of the largest piece that dependency wrote for it from
//    wherever it ran, minimised over the dependency's devices.
struct LowerBound {
  double work_ms = 0, critical_path_ms = 0, critical_path_transfers_ms = 0;
  [[nodiscard]] double ms() const noexcept {
    return std::max({work_ms, critical_path_ms, critical_path_transfers_ms});
  }
};
LowerBound lower_bound(const graph::TaskGraph& graph, const CostModel& cost);

// The plain-text table --explain prints: task, op, layer, phase, device, predicted ms (with
// "*" when modeled), reason; then the predicted step time.
void print_explain(std::ostream& out, const graph::TaskGraph& graph, const Placement& placement,
                   std::span<const Device> devices);

}  // namespace tandem::sched
