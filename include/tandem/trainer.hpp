#pragma once
/// @file trainer.hpp
/// Fine-tuning a Model (full or LoRA) on the CPU and the FPGA devices, as `tandem finetune`.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tandem/export.hpp"
#include "tandem/model.hpp"
#include "tandem/scheduler.hpp"

namespace tandem {
inline namespace v1 {

/// The settings of a fine-tuning run. The named fields are the common ones; every other
/// setting of `tandem finetune` goes in extra.
struct TrainOptions {
  /// Training set: .txt, .jsonl, .ids or .bin.
  std::filesystem::path data;
  /// Held-out set, evaluated before and after training; empty: none.
  std::filesystem::path eval_data;
  /// Output directory: checkpoints, the final export (out/final), plots.
  std::filesystem::path out;
  /// Optimizer steps; 0 needs extra["epochs"].
  std::int64_t steps = 0;
  /// Examples per micro-batch.
  std::int64_t batch = 8;
  /// Tokens per example; 0: the model's maximum.
  std::int64_t seq = 0;
  /// Peak learning rate.
  double lr = 1e-4;
  /// Linear warmup steps.
  std::int64_t warmup = 0;
  /// LoRA rank; 0: full fine-tuning.
  std::int64_t lora_rank = 0;
  /// LoRA alpha: the update is scaled by alpha / rank.
  double lora_alpha = 16.0;
  /// Seed of the data order and the LoRA initialisation.
  std::uint64_t seed = 0;
  /// Devices and placement policy.
  SchedulerOptions scheduler;
  /// Any other `tandem finetune` setting by its config key ("accum", "clip", "decay",
  /// "lora_targets" as a comma-separated list, "no_history" as true/false, ...), applied after
  /// the fields above, so a key here wins. An unknown key or a value that does not parse is a
  /// tandem::Error (InvalidArgument) naming the key.
  std::map<std::string, std::string> extra;
  /// Called after each optimizer step with its 1-based number and loss.
  std::function<void(std::int64_t step, double loss)> on_step;
};

/// What Trainer::run did.
struct TrainReport {
  /// The training loss of each step run, in order.
  std::vector<double> losses;
  /// Mean loss over eval_data before the first step (when eval_data is given).
  std::optional<double> eval_before;
  /// Mean loss over eval_data after the last step (when eval_data is given).
  std::optional<double> eval_after;
  /// The final export: a PEFT adapter directory under LoRA, else a Hugging Face checkpoint.
  std::filesystem::path final_dir;
  /// The last checkpoint written (resumable with extra["resume"]).
  std::filesystem::path last_checkpoint;
};

/// One fine-tuning run. Construction loads the model and data and opens the devices, so bad
/// settings, files and devices fail there; run() trains. A handle: copies share the run.
class TANDEM_API Trainer {
 public:
  /// A run fine-tuning a copy of @p model's weights, as loaded from model.directory(); the
  /// weights seen through @p model do not change. Throws tandem::Error when @p model is itself
  /// a trained model (save it and load the saved directory instead) or a setting is invalid.
  Trainer(const Model& model, TrainOptions options);
  /// A run fine-tuning the model in @p model_dir.
  Trainer(const std::filesystem::path& model_dir, TrainOptions options);

  /// Trains every step, writes checkpoints, the final export and plots under options().out.
  /// A trainer runs once: a second call throws tandem::Error.
  TrainReport run();

  /// Writes the LoRA adapter as Hugging Face PEFT reads it (adapter_config.json,
  /// adapter_model.safetensors) to @p dir, created if missing. Throws tandem::Error when the
  /// run is not LoRA (lora_rank 0).
  void save_adapter(const std::filesystem::path& dir) const;

  /// The model being trained (with its adapters under LoRA), sharing its weights with the run.
  [[nodiscard]] Model model() const;
  /// Number of optimizer steps run() executes.
  [[nodiscard]] std::int64_t total_steps() const;
  /// The options the run was made with.
  [[nodiscard]] const TrainOptions& options() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace v1
}  // namespace tandem
