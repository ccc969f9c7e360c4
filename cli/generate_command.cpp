// `tandem generate`: text from a GPT-2 model directory, greedy or sampled, so that a user can see
// what fine-tuning changed.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/registry.hpp"
#include "commands.hpp"
#include "models/evaluate.hpp"
#include "models/generate.hpp"
#include "models/model.hpp"
#include "tandem/error.hpp"
#include "text/tokenizer.hpp"

namespace tandem::cli {
namespace {

struct GenerateCommandOptions {
  std::string model;
  std::string prompt;
  std::string device = "cpu";
  models::SamplingOptions sampling;
  bool json = false;
};

// The prompt's ids; an empty prompt starts from <|endoftext|>, as GPT-2 was trained to.
std::vector<std::int32_t> prompt_ids(const text::Tokenizer& tokenizer, const std::string& prompt) {
  std::vector<std::int32_t> ids = tokenizer.encode(prompt);
  if (ids.empty() && tokenizer.special().bos) ids.push_back(*tokenizer.special().bos);
  return ids;
}

void run_generate(const GenerateCommandOptions& o) {
  models::check_sampling_options(o.sampling);
  std::unique_ptr<models::Model> model = models::load_model_dir(o.model);
  if (model->config().architecture != models::Architecture::Gpt2LMHead) {
    throw Error(o.model + ": generate needs a GPT2LMHeadModel, this is " + architecture_name(model->config().architecture));
  }
  const std::unique_ptr<text::Tokenizer> tokenizer = text::load_tokenizer(o.model);
  std::unique_ptr<OpKernels> ops = open_backend(o.device);
  const std::vector<std::int32_t> prompt = prompt_ids(*tokenizer, o.prompt);
  const std::vector<std::int32_t> added = models::generate(*model, *ops, prompt, o.sampling, tokenizer->special().eos);
  std::vector<std::int32_t> all = prompt;
  all.insert(all.end(), added.begin(), added.end());
  const std::string text = tokenizer->decode(all);
  if (o.json) {
    const nlohmann::json j{{"prompt_ids", prompt}, {"ids", added}, {"text", text}, {"completion", tokenizer->decode(added)}};
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << text << "\n";
  }
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto o = std::make_shared<GenerateCommandOptions>();
  auto* cmd = app.add_subcommand("generate", "Continue a prompt with a GPT-2 model (greedy or sampled)");
  cmd->add_option("--model", o->model, "GPT-2 model directory (config.json, model.safetensors, vocab.json, merges.txt)")->required();
  cmd->add_option("--prompt", o->prompt, "Text to continue (empty: start from <|endoftext|>)")->required();
  cmd->add_option("--tokens", o->sampling.tokens, "New tokens at most (stops early at <|endoftext|>)")->capture_default_str();
  cmd->add_option("--temperature", o->sampling.temperature, "Softmax temperature; 0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", o->sampling.top_k, "Sample only from the k most likely tokens (0 = all)")->capture_default_str();
  cmd->add_option("--seed", o->sampling.seed, "Random seed: the same seed gives the same text")->capture_default_str();
  cmd->add_option("--device", o->device, "Device that runs the model (see `tandem devices`)")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON object: prompt_ids, ids (new), text, completion");
  cmd->callback([o] { run_generate(*o); });
}

}  // namespace tandem::cli
