#pragma once
// LoRA fine-tuning (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"): a
// trainable low-rank update y += (alpha / r) · (dropout(x) · A) · B on chosen Linear modules
// while every base parameter stays frozen, and the adapter's exchange with Hugging Face PEFT
// (an adapter directory with adapter_config.json and adapter_model.safetensors).
//
// Inside Tandem A is (in, r) and B is (r, out), the shapes ops::lora takes. PEFT stores
// lora_A.weight (r, in) and lora_B.weight (out, r), the nn.Linear layout of the same maps;
// save_lora_adapter and load_lora_adapter transpose. Parameter names are PEFT's, e.g.
// "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight".

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "models/model.hpp"

namespace tandem::train {

struct LoraConfig {
  std::int64_t rank = 8;
  float alpha = 16.0f;   // the update is scaled by alpha / rank
  float dropout = 0.0f;  // on the adapter's input, in [0, 1)
  // Module-name suffixes as PEFT's target_modules: a Linear is adapted when its name equals a
  // target or ends with "." + target ("c_proj" adapts both attn.c_proj and mlp.c_proj).
  std::vector<std::string> targets;
};

// The prefix PEFT puts before the base model's parameter names.
inline constexpr const char* kPeftPrefix = "base_model.model.";

// PEFT's usual targets: GPT-2 c_attn, c_proj, c_fc; BERT query, key, value, dense.
[[nodiscard]] std::vector<std::string> default_lora_targets(const models::ModelConfig& config);

// Adds an adapter to every targeted Linear of @p model, freezes every other parameter
// (trainable = false) and initialises A as PEFT does (kaiming-uniform with a = sqrt(5), i.e.
// uniform in ±1/sqrt(in)) from @p seed, B zero, so the model's output is unchanged until B
// is trained. Returns the number of adapted modules. Errors: bad rank, alpha or dropout, no
// targets, a target that matches no Linear, a model that already has adapters.
std::size_t apply_lora(models::Model& model, const LoraConfig& config, std::uint64_t seed);

// Switches LoRA dropout on (training) or off (evaluation, as PEFT in eval mode). Adapters
// start in evaluation mode, like the rest of the models, which never drop.
void set_lora_training(models::Model& model, bool training);

// Sets the LoRA dropout masks of the next forward pass: each adapter's mask is drawn from
// (@p seed, @p step, its module), so every step and module gets its own mask and a rerun with
// the same arguments gets the same one. Matters only in training mode with dropout > 0.
void set_lora_step(models::Model& model, std::uint64_t seed, std::int64_t step);

// True when some Linear of @p model carries an adapter.
[[nodiscard]] bool has_lora(models::Model& model);

// Writes @p dir (created if missing) as PEFT's save_pretrained does for a LoRA model:
// adapter_config.json (peft_type LORA, r, lora_alpha, lora_dropout, target_modules,
// base_model_name_or_path = @p base_model, task_type) and adapter_model.safetensors with the
// A and B of every adapter in PEFT's names and layout. Every file is written atomically.
void save_lora_adapter(models::Model& model, const LoraConfig& config, const std::filesystem::path& dir,
                       const std::string& base_model);

// Reads a PEFT LoRA adapter directory into @p model (a base model without adapters): applies
// the config it holds, then fills every A and B from adapter_model.safetensors. Tensors that
// name a base parameter instead (PEFT's modules_to_save) overwrite it. Returns the config.
// A missing or malformed file, a missing or mis-shaped tensor, a tensor that names nothing in
// the model, or a PEFT feature Tandem lacks (DoRA, rsLoRA, per-module ranks, LoRA biases,
// regex targets) is an Io error naming the file.
LoraConfig load_lora_adapter(models::Model& model, const std::filesystem::path& dir);

// A copy of @p model without adapters, each adapted weight W replaced by W + (alpha / r)·A·B in
// the checkpoint's layout (transposed for nn.Linear's (out, in)), every parameter trainable, so
// that save_model writes a plain Hugging Face checkpoint. @p model is left as it is.
[[nodiscard]] std::unique_ptr<models::Model> merge_lora(models::Model& model);

}  // namespace tandem::train
