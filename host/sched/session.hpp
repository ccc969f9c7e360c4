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

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "data/batch.hpp"
#include "graph/recorder.hpp"
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

// Data parallelism as a Session sees it (dist::GradientReducer implements it over MPI): the
// session says when each gradient of train_step()'s backward graph is final, and then waits
// for every gradient to hold the sum over the replicas before averaging and clipping.
struct SyncResult {
  double loss_sum = 0;          // the replicas' mean micro-batch losses, summed
  std::vector<CommSpan> spans;  // the collectives of this step, for the trace
};
class GradientSync {
 public:
  virtual ~GradientSync() = default;
  // Replicas whose gradients are summed; train_step averages over replicas × micro-batches.
  [[nodiscard]] virtual int replicas() const noexcept = 0;
  // Parameter @p index (into model.parameters(), trainable) has its final gradient of this
  // step: the last task writing it finished. Called on that task's thread while the rest of
  // the backward graph runs, so it must return quickly; a throw stops the step.
  virtual void gradient_ready(std::size_t index) = 0;
  // After the backward graph ran (gradient_ready was called for every trainable parameter):
  // returns once every trainable gradient holds the sum over the replicas, with @p loss
  // (this replica's mean loss) summed over them.
  virtual SyncResult finish(double loss) = 0;
};

// What one optimizer step of train_step() does after the gradients are in.
struct TrainStepArgs {
  float lr = 1e-3f;       // this step's learning rate (the schedule lives in the trainer)
  float max_norm = 0.0f;  // global-norm clipping threshold; 0: no clipping
};

// One optimizer step over several micro-batches: two graphs, each placed, run and traced.
struct TrainStepResult {
  float loss = 0;                   // mean of the micro-batch losses (and of the replicas, under a GradientSync)
  std::vector<float> micro_losses;  // one per micro-batch, in order
  double grad_norm = 0;             // global norm of the averaged gradients, before clipping
  bool applied = false;             // false: the loss or the norm was not finite, nothing changed
  StepResult backward;              // forward + backward of every micro-batch
  StepResult optimizer;             // the AdamW updates (empty report when not applied)
  StepSummary backward_summary, optimizer_summary;
};

class Session {
 public:
  Session(models::Model& model, SessionOptions options);
  ~Session();

  StepResult step(const data::Batch& batch);

  // Gradient accumulation and clipping: records the forward and backward passes of every
  // batch of @p micro_batches into one graph (backward ops add, so the gradients sum), runs
  // it, averages the gradients over the micro-batches and computes their global norm on the
  // CPU (deterministic), clips them to args.max_norm, and then records and runs the AdamW
  // updates of the trainable parameters as a second graph. A non-finite loss or norm skips
  // the update, leaving parameters and moments as they were. Ignores options.optimizer.
  TrainStepResult train_step(std::span<const data::Batch> micro_batches, const TrainStepArgs& args);

  // AdamW moments in the order of model.parameters() (an undefined Tensor for a parameter
  // that was frozen when the session was created),
  // for checkpoints; and the number of updates applied, which drives bias correction.
  [[nodiscard]] std::vector<Tensor>& first_moments() noexcept { return m_; }
  [[nodiscard]] std::vector<Tensor>& second_moments() noexcept { return v_; }
  [[nodiscard]] std::int64_t optimizer_steps() const noexcept { return steps_; }
  void set_optimizer_steps(std::int64_t steps);

  // Registers @p sync (not owned; null: a single process) to watch train_step()'s gradients
  // become final and sum them over replicas. Its collectives' spans join the trace.
  void set_gradient_sync(GradientSync* sync) noexcept { sync_ = sync; }

  [[nodiscard]] const std::vector<Device>& devices() const noexcept { return devices_; }
  [[nodiscard]] const graph::TaskGraph& graph() const noexcept { return graph_; }
  // train_step()'s AdamW graph and its placement (graph() holds its forward and backward).
  [[nodiscard]] const graph::TaskGraph& optimizer_graph() const noexcept { return optimizer_graph_; }
  [[nodiscard]] const Placement& optimizer_placement() const noexcept { return optimizer_plan_.placement; }
  [[nodiscard]] const Placement& placement() const noexcept { return plan_.placement; }
  [[nodiscard]] const CostModel& cost() const noexcept { return *cost_; }
  [[nodiscard]] Trace& trace() noexcept { return *trace_; }
  [[nodiscard]] const StepSummary& last_summary() const noexcept { return summary_; }

 private:
  graph::TaskGraph record(const data::Batch& batch);
  void record_adamw(graph::Recorder& rec, const AdamWArgs& args);
  // Places (or reuses the placement of an equal signature) and runs @p graph; the plan state
  // of each of the session's graphs is kept apart so both stay reused across steps.
  struct Plan {
    std::string signature;
    Placement placement;
  };
  StepResult run_graph(const graph::TaskGraph& graph, Plan& plan, const RunHooks& hooks = {});
  [[nodiscard]] bool needs_calibration(const graph::TaskGraph& graph) const;
  ExecutionReport calibrate_and_run(const graph::TaskGraph& graph, Plan& plan, const RunHooks& hooks);
  // Hooks that call sync_->gradient_ready for each trainable parameter once the last task of
  // @p graph writing its gradient finished (parameters no task writes are reported at once).
  RunHooks gradient_hooks(const graph::TaskGraph& graph);
  // The summary of a run of @p graph, with the plan's prediction labelled modeled when it
  // came from an analytical card model.
  StepSummary summarize_plan(const graph::TaskGraph& graph, const Plan& plan, const ExecutionReport& report) const;
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
  Plan plan_;
  graph::TaskGraph optimizer_graph_;
  Plan optimizer_plan_;
  StepSummary summary_;
  GradientSync* sync_ = nullptr;
  // Per task of the graph being run: the parameters whose gradient it writes; per parameter:
  // its gradient's writers not finished yet. Used by gradient_hooks().
  std::vector<std::vector<std::size_t>> grad_params_of_task_;
  std::unique_ptr<std::atomic<std::uint32_t>[]> grad_writers_left_;
};

}  // namespace tandem::sched
