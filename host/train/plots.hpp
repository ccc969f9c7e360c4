#pragma once
// Hand-written SVG plots of a fine-tuning run, readable in any browser: the training loss
// (and evaluation loss) by step, and a device timeline of one step (a row per device, a bar
// per task coloured by phase: forward, backward, optimizer).

#include <filesystem>
#include <string>
#include <vector>

#include "graph/task_graph.hpp"
#include "sched/executor.hpp"
#include "sched/placement.hpp"
#include "train/metrics.hpp"

namespace tandem::train {

// Training loss of every step with a finite loss (a polyline) and evaluation losses (dots),
// with labelled axes. No finite point at all gives a plot saying so.
[[nodiscard]] std::string loss_curve_svg(const std::vector<StepMetrics>& metrics);

// One executed graph of a step, drawn after the graphs before it.
struct TimelineGraph {
  const graph::TaskGraph* graph = nullptr;
  const sched::ExecutionReport* report = nullptr;
};
[[nodiscard]] std::string timeline_svg(const std::vector<TimelineGraph>& graphs, const std::vector<sched::Device>& devices);

// Writes @p svg atomically (an Io error names @p path on failure).
void write_svg(const std::filesystem::path& path, const std::string& svg);

}  // namespace tandem::train
