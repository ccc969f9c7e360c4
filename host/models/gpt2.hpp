#pragma once
// GPT-2 causal language model (Radford et al. 2019) as Hugging Face's GPT2LMHeadModel: pre-LN
// blocks, Conv1D projections stored (in, out), and an LM head tied to the token embedding.

#include <memory>
#include <vector>

#include "models/layers.hpp"
#include "models/model.hpp"

namespace tandem::io {
class SafetensorsReader;
}

namespace tandem::models {

class Gpt2 final : public Model {
 public:
  // Parameters are zero (LayerNorm weights one) until load() fills them.
  explicit Gpt2(ModelConfig config);
  ~Gpt2() override;
  // Reads every parameter from @p file; names with or without "transformer.", the tied
  // lm_head.weight and the attn.bias / attn.masked_bias buffers are ignored.
  void load(const io::SafetensorsReader& file);

  [[nodiscard]] const ModelConfig& config() const override { return config_; }
  [[nodiscard]] std::span<Parameter> parameters() override { return params_.all(); }
  // batch.ids (B, T) with T <= n_positions; batch.targets (B, T) next-token targets (-100 =
  // ignore) or undefined for logits only (the loss is then undefined and backward() is an
  // error); batch.mask, if defined, hides padded keys.
  void forward_ops(const data::Batch& batch, OpKernels& ops) override;
  [[nodiscard]] const Tensor& loss_tensor() const override { return loss_; }
  [[nodiscard]] const Tensor& logits() const override { return logits_; }
  void backward(OpKernels& ops) override;
  [[nodiscard]] std::vector<Linear*> linears() override;

 private:
  class Block;

  void embedding_backward(OpKernels& ops, const Tensor& dx);

  ModelConfig config_;
  ParameterSet params_;
  TrackedParam wte_, wpe_;
  std::vector<std::unique_ptr<Block>> blocks_;
  std::unique_ptr<LayerNorm> ln_f_;

  // Saved by forward for backward.
  Tensor ids_, targets_, final_, logits_, lse_, loss_;
};

}  // namespace tandem::models
