#pragma once
// What each optimizer step of a fine-tuning run measured, as the metrics JSONL file holds it
// (one JSON object per line) and as trainer_state.json keeps it for the loss curve.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sched/trace.hpp"

namespace tandem::train {

struct DeviceShare {
  std::string device;
  double busy_share = 0;  // busy time over the step's wall time, in [0, 1]
  double flop_share = 0;  // of the step's FLOPs, the fraction this device ran
};

struct StepMetrics {
  std::int64_t step = 0;
  double loss = 0;
  double lr = 0;
  double grad_norm = 0;
  double tokens_per_s = 0;
  double step_ms = 0;
  std::int64_t tokens = 0;
  bool skipped = false;              // the loss or gradient norm was not finite; no update
  std::optional<double> eval_loss;   // when the held-out split was evaluated after this step
  std::vector<DeviceShare> devices;
};

[[nodiscard]] nlohmann::json to_json(const StepMetrics& m);
// The inverse of to_json; a missing or mistyped field is an error naming @p where.
[[nodiscard]] StepMetrics metrics_from_json(const nlohmann::json& j, const std::string& where);

// One executed graph of a step and its total FLOPs (for weighting its per-device FLOP shares).
struct GraphRun {
  const sched::StepSummary* summary = nullptr;
  double flops = 0;
};

// Per-device shares of one optimizer step that ran as several graphs (forward + backward,
// then the optimizer): busy time and FLOPs summed over the graphs.
[[nodiscard]] std::vector<DeviceShare> device_shares(const std::vector<GraphRun>& graphs);
// The FLOPs of every task of @p graph.
[[nodiscard]] double total_flops(const graph::TaskGraph& graph);

// Appends one line per step to a JSONL file, flushed after each line so a killed run keeps
// every finished step.
class MetricsWriter {
 public:
  // @p append: keep the lines already there (a resumed run); otherwise start the file empty.
  MetricsWriter(const std::filesystem::path& path, bool append);
  void write(const StepMetrics& m);

 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

}  // namespace tandem::train
