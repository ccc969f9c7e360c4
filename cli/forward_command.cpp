// `tandem forward`: one batch's logits (and gradients) written to safetensors, for comparing
// with any framework while debugging parity.
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "backends/registry.hpp"
#include "commands.hpp"
#include "io/safetensors.hpp"
#include "models/evaluate.hpp"
#include "models/model.hpp"

namespace tandem::cli {
namespace {

struct ForwardOptions {
  std::string model;
  std::string data;
  std::string out;
  std::string devices = "cpu";
  std::string policy;
  std::int64_t batch = 8;
  std::int64_t context = 0;
  bool grads = false;
};

void run_forward(const ForwardOptions& o) {
  models::check_output_directory(o.out);
  const std::string device = models::select_device(o.devices, o.policy);
  std::unique_ptr<OpKernels> ops = open_backend(device);
  std::unique_ptr<models::Model> model = models::load_model_dir(o.model);
  const models::ModelData data = models::load_model_data(*model, o.model, o.data, o.context);
  const models::ForwardOutput f = models::forward_first_batch(*model, data, *ops, o.batch, o.grads);
  const std::map<std::string, std::string> metadata{{"model", o.model}, {"data", o.data}, {"device", device}};
  io::write_safetensors(o.out, f.tensors, metadata);
  std::printf("wrote %s: logits %s, loss %.6f, %zu tensors, on %s\n", o.out.c_str(),
              f.tensors.front().second.shape().str().c_str(), static_cast<double>(f.loss), f.tensors.size(), device.c_str());
}

}  // namespace

void add_forward_command(CLI::App& app) {
  auto o = std::make_shared<ForwardOptions>();
  auto* cmd = app.add_subcommand("forward", "Write the first batch's logits (and gradients) to a safetensors file");
  cmd->add_option("--model", o->model, "Hugging Face model directory (config.json, model.safetensors, tokenizer)")->required();
  cmd->add_option("--data", o->data, "Dataset: .txt, .jsonl, .ids or .bin")->required();
  cmd->add_option("--out", o->out, "Output .safetensors file")->required();
  cmd->add_flag("--grads", o->grads, "Also write every parameter's gradient of the loss as grad.<name>");
  cmd->add_option("--devices", o->devices, "Device specs, comma-separated (see `tandem devices`)")->capture_default_str();
  cmd->add_option("--policy", o->policy, "cpu (all on the CPU) or fpga (all on the first OpenCL device of --devices)");
  cmd->add_option("--batch", o->batch, "Examples in the batch")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--context", o->context, "Tokens per example (0: the model's maximum)")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->callback([o] { run_forward(*o); });
}

}  // namespace tandem::cli
