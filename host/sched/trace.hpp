#pragma once
// What an executed step did, for people: a Chrome trace (JSON that Perfetto and
// chrome://tracing load) and a summary of busy time, bytes moved and FLOP shares per device.
//
// Transfers are derived, not observed: a task's input needs moving when its bytes were last
// written on a device with other memory (CPU devices share host memory; bytes no task of the
// step wrote start on the host). On PoCL the OpenCL buffers wrap host memory, so nothing is
// copied; the figures are what a card with its own memory would move, and are labelled so.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "graph/task_graph.hpp"
#include "sched/executor.hpp"
#include "sched/placement.hpp"

namespace tandem::sched {

// Bytes a task's inputs needed to move to the device it ran on.
struct Transfer {
  graph::TaskId task = 0;  // the reading task
  int from = 0, to = 0;    // device indices (0: the host's copy)
  std::uint64_t bytes = 0;
  double at_ms = 0;        // the reading task's start
};

// In the order the tasks ran. Device-to-device moves go through the host on a PCIe card and
// are listed once, from the source device to the reading one.
std::vector<Transfer> derive_transfers(const graph::TaskGraph& graph, const std::vector<Device>& devices,
                                       const ExecutionReport& report);

struct DeviceSummary {
  std::string spec;
  std::size_t tasks = 0;
  double busy_ms = 0;              // time at least one of its tasks (or a failed attempt) ran
  double idle_ms = 0;              // step wall time − busy
  std::uint64_t bytes_in = 0;      // host → device (CPU devices: 0)
  std::uint64_t bytes_out = 0;     // device → host (CPU devices: 0)
  double flop_share = 0;           // of the step's FLOPs, the fraction it ran
};

struct StepSummary {
  double wall_ms = 0;
  // The policy's predicted step time and, when it came from an analytical card model
  // (--fpga-model), that card's name: the prediction is modeled, not measured.
  double predicted_ms = 0;
  std::string modeled_card;
  std::vector<DeviceSummary> devices;
  std::vector<Fallback> fallbacks;
};

StepSummary summarize(const graph::TaskGraph& graph, const std::vector<Device>& devices,
                      const ExecutionReport& report);

// A table: one row per device, then one line per fallback.
void print_summary(std::ostream& out, const StepSummary& summary);

// One collective of data-parallel training (a gradient bucket's allreduce), as the
// communication thread timed it.
struct CommSpan {
  std::string name;  // e.g. "allreduce bucket 3"
  std::chrono::steady_clock::time_point start, end;
  std::uint64_t bytes = 0;
  int parameters = 0;  // gradients in the bucket
};

// A Chrome trace of one or more steps: a track (tid) per device named by its spec, a track
// for transfers, complete events per task (cat = phase; args layer, task id, predicted ms,
// modeled, reason), failed attempts, and flow arrows for dependencies between devices. Under
// data parallelism a "comm" track holds the allreduce spans (cat = comm), so their overlap
// with the backward tasks shows.
class Trace {
 public:
  explicit Trace(std::vector<Device> devices);
  // Adds a step's events; times are relative to the first step added.
  void add_step(const graph::TaskGraph& graph, const Placement& placement, const ExecutionReport& report);
  // Adds collectives to the "comm" track (created by the first call), on the steps' clock.
  void add_comm_spans(const std::vector<CommSpan>& spans);
  // Writes the trace atomically (an Io error names @p path on failure).
  void write(const std::filesystem::path& path) const;
  [[nodiscard]] std::string text() const;

 private:
  std::vector<Device> devices_;
  std::vector<std::string> events_;  // serialised JSON objects
  bool has_origin_ = false;
  std::chrono::steady_clock::time_point origin_;
  std::uint64_t next_flow_ = 0;
  bool has_comm_track_ = false;
};

}  // namespace tandem::sched
