#pragma once
// A fine-tunable model: named parameters (Hugging Face names), a forward pass that returns the
// batch loss and keeps what the backward pass needs, and a backward pass that accumulates every
// trainable parameter's gradient. Both run their ops on the backend they are given.

#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "data/batch.hpp"
#include "models/config.hpp"
#include "ops/op_kernels.hpp"
#include "tandem/tensor.hpp"

namespace tandem::models {

struct Parameter {
  // As Hugging Face's save_pretrained writes it for the config's architecture, e.g.
  // "transformer.h.0.attn.c_attn.weight" (GPT2LMHeadModel), "bert.pooler.dense.weight".
  std::string name;
  Tensor value;
  Tensor grad;       // same shape as value, zero after zero_grad()
  bool trainable = true;
  bool decay = true;  // false for biases and LayerNorm parameters (no weight decay)
};

class Model {
 public:
  virtual ~Model() = default;
  [[nodiscard]] virtual const ModelConfig& config() const = 0;
  [[nodiscard]] virtual std::span<Parameter> parameters() = 0;
  // Mean loss of @p batch: next-token cross-entropy (GPT-2, BERT masked LM) or classification
  // cross-entropy (BERT with a classification head). Keeps the activations for backward().
  virtual float forward(const data::Batch& batch, OpKernels& ops) = 0;
  // Logits of the last forward: (B, T, V) for language models, (B, num_labels) for classification.
  [[nodiscard]] virtual const Tensor& logits() const = 0;
  // Adds d(loss of the last forward)/d(parameter) into each trainable parameter's grad.
  virtual void backward(OpKernels& ops) = 0;
  void zero_grad();
};

// Loads config.json and model.safetensors from @p dir (Hugging Face layout).
std::unique_ptr<Model> load_model(const std::filesystem::path& dir);
// A model with @p config and parameters zero (LayerNorm weights one), for loading or tests.
std::unique_ptr<Model> make_model(const ModelConfig& config);
// Writes @p model to @p dir (created if missing) as Hugging Face reads it: config.json (the
// original text) and model.safetensors with every parameter under its Hugging Face name.
void save_model(Model& model, const std::filesystem::path& dir);

}  // namespace tandem::models
