// `tandem eval`: a model's loss over a whole dataset (perplexity for language models, accuracy
// for classifiers), on the device the policy picks.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "backends/registry.hpp"
#include "commands.hpp"
#include "models/evaluate.hpp"
#include "models/model.hpp"

namespace tandem::cli {
namespace {

struct EvalOptions {
  std::string model;
  std::string data;
  std::string devices = "cpu";
  std::string policy;
  std::int64_t batch = 8;
  std::int64_t context = 0;
  bool json = false;
};

nlohmann::json result_json(const EvalOptions& o, const std::string& device, const models::EvalResult& r) {
  nlohmann::json j{{"model", o.model}, {"data", o.data}, {"device", device}, {"loss", r.loss}};
  if (r.task == data::Task::LanguageModel) {
    j["task"] = "language_model";
    j["perplexity"] = r.perplexity();
    j["tokens"] = r.count;
  } else {
    j["task"] = "classification";
    j["accuracy"] = r.accuracy();
    j["examples"] = r.count;
  }
  return j;
}

void print_line(const std::string& device, const models::EvalResult& r) {
  if (r.task == data::Task::LanguageModel)
    std::printf("loss %.6f  perplexity %.4f  over %lld tokens on %s\n", r.loss, r.perplexity(),
                static_cast<long long>(r.count), device.c_str());
  else
    std::printf("loss %.6f  accuracy %.4f (%lld of %lld examples) on %s\n", r.loss, r.accuracy(),
                static_cast<long long>(r.correct), static_cast<long long>(r.count), device.c_str());
}

void run_eval(const EvalOptions& o) {
  const std::string device = models::select_device(o.devices, o.policy);
  std::unique_ptr<OpKernels> ops = open_backend(device);
  std::unique_ptr<models::Model> model = models::load_model_dir(o.model);
  const models::ModelData data = models::load_model_data(*model, o.model, o.data, o.context);
  const models::EvalResult r = models::evaluate(*model, data, *ops, o.batch);
  if (o.json)
    std::cout << result_json(o, device, r).dump(2) << "\n";
  else
    print_line(device, r);
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  auto* cmd = app.add_subcommand("eval", "Loss of a model over a dataset: perplexity (GPT-2) or accuracy (BERT classifier)");
  cmd->add_option("--model", o->model, "Hugging Face model directory (config.json, model.safetensors, tokenizer)")->required();
  cmd->add_option("--data", o->data, "Dataset: .txt, .jsonl, .ids or .bin")->required();
  cmd->add_option("--devices", o->devices, "Device specs, comma-separated (see `tandem devices`)")->capture_default_str();
  cmd->add_option("--policy", o->policy, "cpu (all on the CPU) or fpga (all on the first OpenCL device of --devices)");
  cmd->add_option("--batch", o->batch, "Examples per forward pass")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--context", o->context, "Tokens per example (0: the model's maximum)")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->callback([o] { run_eval(*o); });
}

}  // namespace tandem::cli
