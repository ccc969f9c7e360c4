// `tandem calibrate`: measures what the heft policy plans with, for one model shape on each
// device — peak GFLOP/s and GB/s, the transfer curve of devices with their own memory, and
// the run time of every op of one training step — and stores it in the history files.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "backends/registry.hpp"
#include "commands.hpp"
#include "models/evaluate.hpp"
#include "sched/cost_model.hpp"
#include "sched/session.hpp"

namespace tandem::cli {
namespace {

struct CalibrateOptions {
  std::string model, data;
  std::string devices = "cpu,opencl";
  std::int64_t batch = 4;
  std::int64_t context = 0;
};

// The specs of @p list with the CPU first, as the session orders them.
std::vector<std::string> device_list(const std::string& list) {
  std::vector<std::string> out = split_device_list(list);
  std::erase(out, "cpu");
  out.insert(out.begin(), "cpu");
  return out;
}

void measure_device(const std::string& spec) {
  std::unique_ptr<OpKernels> kernels = open_backend(spec);
  const std::string name(kernels->name());
  const std::filesystem::path path = sched::history_path(name);
  sched::DeviceHistory history = sched::load_history(path, name);
  const sched::Peaks peaks = sched::measure_peaks(*kernels);
  history.peak_gflops = peaks.gflops;
  history.peak_gbps = peaks.gbps;
  if (spec != "cpu") history.to_device = history.to_host = sched::measure_transfer(*kernels);
  sched::save_history(path, history);
  std::printf("%-10s peak %.1f GFLOP/s, %.1f GB/s", spec.c_str(), peaks.gflops, peaks.gbps);
  if (spec != "cpu") std::printf(", transfer latency %.1f us", history.to_device.latency_us);
  std::printf("  -> %s\n", path.string().c_str());
}

void run_calibrate(const CalibrateOptions& o) {
  const std::vector<std::string> devices = device_list(o.devices);
  for (const std::string& spec : devices) measure_device(spec);

  std::unique_ptr<models::Model> model = models::load_model_dir(o.model);
  const models::ModelData data = models::load_model_data(*model, o.model, o.data, o.context);
  data::Batcher batcher = models::fixed_shape_batcher(data, o.batch, 0);

  sched::SessionOptions so;
  so.devices = devices;
  so.policy = "heft";
  sched::Session session(*model, so);
  const sched::StepResult r = session.step(batcher.next());
  std::size_t ops = 0;
  for (const graph::Task& t : session.graph().tasks()) ops += !t.host_only;
  std::printf("%s: %zu ops of one training step %s on %zu devices\n", o.model.c_str(), ops,
              r.calibrated ? "timed" : "already in the history", devices.size());
}

}  // namespace

void add_calibrate_command(CLI::App& app) {
  auto o = std::make_shared<CalibrateOptions>();
  auto* cmd = app.add_subcommand("calibrate", "Measure each device's speed and one training step's ops for the heft policy");
  cmd->add_option("--model", o->model, "Hugging Face model directory (its shape is what gets timed)")->required();
  cmd->add_option("--data", o->data, "Dataset giving a batch of the shape to time")->required();
  cmd->add_option("--devices", o->devices, "Device specs, comma-separated; the CPU is always included")->capture_default_str();
  cmd->add_option("--batch", o->batch, "Examples per step")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--context", o->context, "Tokens per example (0: the model's maximum)")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->callback([o] { run_calibrate(*o); });
}

}  // namespace tandem::cli
