#pragma once
// One model trained on a set of devices under a placement policy. Each step records the
// model's forward and backward passes and the AdamW updates into a task graph
// (graph::Recorder), places it (a placement is reused while the graph's signature — ops,
// shapes, scopes — stays the same), and runs it on every device at once (Executor).
//
// The cost model starts from each device's history file. When heft would plan with ops it has
// never timed on some device, the first step runs in program order on the CPU and times each
// such op on each device just before it runs (its inputs are then valid), StarPU-style; the
// histories are saved, and the next steps are planned from them.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/batch.hpp"
#include "graph/task_graph.hpp"
#include "models/model.hpp"
#include "sched/cost_model.hpp"
#include "sched/executor.hpp"
#include "sched/placement.hpp"
#include "sched/policy.hpp"
#include "sched/residency.hpp"
#include "sched/trace.hpp"

namespace tandem::sched {

struct SessionOptions {
  std::vector<std::string> devices = {"cpu"};  // "cpu" is always device 0, added when missing
  std::string policy = "heft";                 // cpu | fpga | heft | rules:FILE
  bool strict = false;                         // a fallback is an error
  std::string fpga_model;                      // plan OpenCL devices as this card ("u280"); modeled
  std::filesystem::path bitstream_dir = "bitstreams";
  bool use_history = true;                     // read and write the history files
  bool optimizer = true;                       // record AdamW updates after the backward pass
  AdamWArgs adamw;                             // step is counted by the session
  ExecutorOptions executor;
};

struct StepResult {
  float loss = 0;
  bool replanned = false;   // the placement was computed for this step (not reused)
  bool calibrated = false;  // the step ran in program order on the CPU to time ops
  ExecutionReport report;
};

class Session {
 public:
  Session(models::Model& model, SessionOptions options);
  ~Session();

  StepResult step(const data::Batch& batch);

  [[nodiscard]] const std::vector<Device>& devices() const noexcept { return devices_; }
  [[nodiscard]] const graph::TaskGraph& graph() const noexcept { return graph_; }
  [[nodiscard]] const Placement& placement() const noexcept { return placement_; }
  [[nodiscard]] const CostModel& cost() const noexcept { return *cost_; }
  [[nodiscard]] Trace& trace() noexcept { return *trace_; }
  [[nodiscard]] const StepSummary& last_summary() const noexcept { return summary_; }

 private:
  graph::TaskGraph record(const data::Batch& batch);
  [[nodiscard]] bool needs_calibration() const;
  ExecutionReport calibrate_and_run();
  void save_histories() const;

  models::Model& model_;
  SessionOptions options_;
  std::vector<std::unique_ptr<OpKernels>> backends_;
  std::vector<Device> devices_;
  Policy policy_;
  std::unique_ptr<CostModel> cost_;
  Residency residency_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<Trace> trace_;
  std::vector<Tensor> m_, v_;  // AdamW moments, one pair per parameter
  std::int64_t steps_ = 0;
  graph::TaskGraph graph_;
  std::string signature_;
  Placement placement_;
  StepSummary summary_;
};

}  // namespace tandem::sched
