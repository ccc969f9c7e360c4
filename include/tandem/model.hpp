#pragma once
/// @file model.hpp
/// A transformer checkpoint in Hugging Face layout (GPT-2 or BERT).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "tandem/export.hpp"

namespace tandem {
inline namespace v1 {

class Trainer;

/// How Model::evaluate runs.
struct EvalOptions {
  /// Examples per forward pass.
  std::int64_t batch = 8;
  /// Tokens per example; 0: the model's maximum.
  std::int64_t context = 0;
  /// The one device that runs every op: "cpu" or an OpenCL spec ("opencl:0").
  std::string device = "cpu";
};

/// A loaded model. A handle: copies share the same weights (like std::shared_ptr). One model
/// must not be used from several threads at once.
class TANDEM_API Model {
 public:
  /// Loads config.json and model.safetensors (and, for text data, the tokenizer files) from
  /// @p dir. Throws tandem::Error (Io) naming @p dir when it is missing or not a model.
  [[nodiscard]] static Model load(const std::filesystem::path& dir);

  /// "gpt2" or "bert" (config.json's model_type).
  [[nodiscard]] std::string family() const;
  /// "GPT2LMHeadModel", "BertForSequenceClassification", ...
  [[nodiscard]] std::string architecture() const;
  /// The directory the model was loaded from (a trained model: its base model's).
  [[nodiscard]] const std::filesystem::path& directory() const noexcept;
  /// Number of scalar parameters, LoRA adapters included.
  [[nodiscard]] std::int64_t parameter_count() const;
  /// Number of parameters training changes (all, or only the adapters under LoRA).
  [[nodiscard]] std::int64_t trainable_parameter_count() const;

  /// Mean loss over every example of @p data (.txt, .jsonl, .ids or .bin), as `tandem eval`
  /// computes it: next-token cross-entropy per predicted token for GPT-2, per example for a
  /// BERT classifier. Throws tandem::Error naming the file when it cannot be read or the model
  /// has no loss on it.
  [[nodiscard]] double evaluate(const std::filesystem::path& data, const EvalOptions& options = {}) const;

  /// Writes a Hugging Face checkpoint to @p dir (created if missing): config.json,
  /// model.safetensors and the tokenizer files of directory(). A model with LoRA adapters is
  /// written merged (W + (alpha / r)·A·B), as a plain checkpoint.
  void save(const std::filesystem::path& dir) const;

 private:
  struct Impl;
  explicit Model(std::shared_ptr<Impl> impl);
  friend class Trainer;

  std::shared_ptr<Impl> impl_;
};

}  // namespace v1
}  // namespace tandem
