// `tandem step`: training steps of a model on a dataset under a placement policy, on the CPU
// and the FPGA device at once — the scheduler's command line (fine-tuning runs with
// schedules, checkpoints and evaluation build on it).
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/registry.hpp"
#include "commands.hpp"
#include "models/evaluate.hpp"
#include "sched/session.hpp"

namespace tandem::cli {
namespace {

struct StepOptions {
  std::string model, data;
  std::string devices = "cpu";
  std::string policy = "heft";
  bool strict = false;
  bool explain = false;
  std::string trace;
  std::string fpga_model;
  std::string bitstream_dir = "bitstreams";
  std::int64_t batch = 4;
  std::int64_t context = 0;
  int steps = 1;
  float lr = 1e-4f;
  std::uint64_t seed = 0;
  bool no_history = false;
  bool json = false;
};

void run_steps(const StepOptions& o) {
  if (!o.trace.empty()) models::check_output_directory(o.trace);
  std::unique_ptr<models::Model> model = models::load_model_dir(o.model);
  const models::ModelData data = models::load_model_data(*model, o.model, o.data, o.context);

  sched::SessionOptions so;
  so.devices = split_device_list(o.devices);
  so.policy = o.policy;
  so.strict = o.strict;
  so.fpga_model = o.fpga_model;
  so.bitstream_dir = o.bitstream_dir;
  so.use_history = !o.no_history;
  so.adamw.lr = o.lr;
  sched::Session session(*model, so);

  data::Batcher batcher = models::fixed_shape_batcher(data, o.batch, o.seed);

  nlohmann::json steps = nlohmann::json::array();
  for (int i = 0; i < o.steps; ++i) {
    const sched::StepResult r = session.step(batcher.next());
    const char* how = r.calibrated ? "calibration run" : r.replanned ? "planned" : "plan reused";
    steps.push_back({{"step", i + 1}, {"loss", r.loss}, {"ms", r.report.wall_ms}, {"plan", how}});
    if (!o.json)
      std::printf("step %d  loss %.6f  %.1f ms  (%s)\n", i + 1, r.loss, r.report.wall_ms, how);
  }
  if (o.explain) sched::print_explain(o.json ? std::cerr : std::cout, session.graph(), session.placement(), session.devices());
  if (!o.trace.empty()) session.trace().write(o.trace);
  if (o.json) {
    nlohmann::json devices = nlohmann::json::array();
    for (const sched::DeviceSummary& d : session.last_summary().devices)
      devices.push_back({{"device", d.spec}, {"tasks", d.tasks}, {"busy_ms", d.busy_ms}, {"idle_ms", d.idle_ms},
                         {"bytes_in", d.bytes_in}, {"bytes_out", d.bytes_out}, {"flop_share", d.flop_share}});
    std::cout << nlohmann::json{{"policy", o.policy},
                                {"steps", steps},
                                {"predicted_step_ms", session.placement().predicted_step_ms},
                                {"last_step", devices},
                                {"fallbacks", session.last_summary().fallbacks.size()}}
                     .dump(2)
              << "\n";
  } else {
    sched::print_summary(std::cout, session.last_summary());
  }
}

}  // namespace

void add_step_command(CLI::App& app) {
  auto o = std::make_shared<StepOptions>();
  auto* cmd = app.add_subcommand("step", "Training steps (forward, backward, AdamW) placed across the CPU and FPGA devices");
  cmd->add_option("--model", o->model, "Hugging Face model directory")->required();
  cmd->add_option("--data", o->data, "Dataset: .txt, .jsonl, .ids or .bin")->required();
  cmd->add_option("--devices", o->devices, "Device specs, comma-separated; the CPU is always included")->capture_default_str();
  cmd->add_option("--policy", o->policy, "cpu, fpga, heft or rules:FILE (see docs/scheduler.md)")->capture_default_str();
  cmd->add_flag("--strict", o->strict, "Make any fallback to the CPU an error");
  cmd->add_flag("--explain", o->explain, "Print where each task went and why");
  cmd->add_option("--trace", o->trace, "Write a Chrome trace (Perfetto, chrome://tracing) of every step");
  cmd->add_option("--fpga-model", o->fpga_model, "Plan the OpenCL device as this card (bitstreams/<card>/manifest.json)");
  cmd->add_option("--bitstream-dir", o->bitstream_dir, "Where card manifests live")->capture_default_str();
  cmd->add_option("--batch", o->batch, "Examples per step")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--context", o->context, "Tokens per example (0: the model's maximum)")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--steps", o->steps, "Steps to run")->capture_default_str()->check(CLI::Range(1, 1 << 30));
  cmd->add_option("--lr", o->lr, "AdamW learning rate")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Data order seed")->capture_default_str();
  cmd->add_flag("--no-history", o->no_history, "Neither read nor write the cost history files");
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->callback([o] { run_steps(*o); });
}

}  // namespace tandem::cli
