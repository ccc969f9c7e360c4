#pragma once
// A fine-tunable model: named parameters (Hugging Face names), a forward pass that computes the
// batch loss and keeps what the backward pass needs, and a backward pass that accumulates every
// trainable parameter's gradient. Both only issue ops to the backend they are given (host work
// included, through OpKernels::host), labelled with their layer and phase, so the same calls
// either run at once or are recorded as a step's task graph.

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "data/batch.hpp"
#include "models/config.hpp"
#include "ops/op_kernels.hpp"
#include "tandem/tensor.hpp"

namespace tandem::models {

class Linear;

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
  // Issues the ops of the forward pass of @p batch and keeps the activations for backward().
  // Reads no op result, so @p ops may be a graph recorder that runs them later. The mean loss
  // (next-token cross-entropy for GPT-2 and BERT masked LM, classification cross-entropy for
  // BERT with a classification head) lands in loss_tensor().
  virtual void forward_ops(const data::Batch& batch, OpKernels& ops) = 0;
  // The mean loss of the last forward_ops() as a (1) tensor, undefined when its batch had no
  // targets or labels. Holds the value once the ops have run.
  [[nodiscard]] virtual const Tensor& loss_tensor() const = 0;
  // forward_ops() on a backend that runs ops at once, then the loss (0 when undefined).
  float forward(const data::Batch& batch, OpKernels& ops);
  // Logits of the last forward: (B, T, V) for language models, (B, num_labels) for classification.
  [[nodiscard]] virtual const Tensor& logits() const = 0;
  // Issues the ops that add d(loss of the last forward)/d(parameter) into each trainable
  // parameter's grad. Like forward_ops(), reads no op result.
  virtual void backward(OpKernels& ops) = 0;
  void zero_grad();
  // Every Linear projection (task heads included) in registration order, the places a LoRA
  // adapter can go (host/train/lora.hpp). A model without any returns none.
  [[nodiscard]] virtual std::vector<Linear*> linears() { return {}; }
};

// Fails, naming @p origin (the config's file), when a model with @p config could not hold its
// parameters and their gradients (f32 each) in this machine's physical memory: a config can
// ask for terabytes within its per-dimension bounds, and allocating it would end in
// std::bad_alloc or the kernel's out-of-memory killer instead of a message.
void check_fits_in_memory(const ModelConfig& config, const std::string& origin);
// Loads config.json and model.safetensors from @p dir (Hugging Face layout).
std::unique_ptr<Model> load_model(const std::filesystem::path& dir);
// A model with @p config and parameters zero (LayerNorm weights one), for loading or tests.
std::unique_ptr<Model> make_model(const ModelConfig& config);
// Writes @p model to @p dir (created if missing) as Hugging Face reads it: config.json (the
// original text) and model.safetensors with every parameter under its Hugging Face name.
void save_model(Model& model, const std::filesystem::path& dir);

}  // namespace tandem::models
