#pragma once
// BERT (Devlin et al. 2019) as Hugging Face's BertModel, BertForSequenceClassification and
// BertForMaskedLM: post-LN encoder layers, nn.Linear projections stored (out, in), absolute
// position and token-type embeddings, and the padding mask applied to the attention keys.

#include <memory>
#include <vector>

#include "models/layers.hpp"
#include "models/model.hpp"

namespace tandem::io {
class SafetensorsReader;
}

namespace tandem::models {

class Bert final : public Model {
 public:
  // Parameters are zero (LayerNorm weights one) until load() fills them.
  explicit Bert(ModelConfig config);
  ~Bert() override;
  // Reads every parameter from @p file; names with or without "bert.", LayerNorm weight/bias or
  // gamma/beta; the tied decoder weight and bias of the masked-LM head are ignored.
  void load(const io::SafetensorsReader& file);

  [[nodiscard]] const ModelConfig& config() const override { return config_; }
  [[nodiscard]] std::span<Parameter> parameters() override { return params_.all(); }
  // batch.ids (B, T), batch.mask (B, T) or undefined, batch.token_types (B, T) or undefined;
  // batch.labels (B) for classification, batch.targets (B, T) for masked LM (-100 = ignore).
  // Without them (and always for BertModel) the loss is undefined and backward() is an error.
  void forward_ops(const data::Batch& batch, OpKernels& ops) override;
  [[nodiscard]] const Tensor& loss_tensor() const override { return loss_; }
  // (B, num_labels) for classification, (B, T, V) for masked LM, and for BertModel the final
  // hidden states (B, T, C).
  [[nodiscard]] const Tensor& logits() const override { return logits_; }
  // The encoder's final hidden states (B, T, C) of the last forward.
  [[nodiscard]] const Tensor& hidden_states() const noexcept { return hidden_; }
  void backward(OpKernels& ops) override;
  [[nodiscard]] std::vector<Linear*> linears() override;

 private:
  class Layer;
  struct Pooler;
  struct MlmHead;

  [[nodiscard]] Tensor embed(OpKernels& ops, const data::Batch& batch);
  void embed_backward(OpKernels& ops, const Tensor& dx);
  [[nodiscard]] Tensor classify(OpKernels& ops, const Tensor& hidden);  // (B, T, C) -> (B, L)
  [[nodiscard]] Tensor classify_backward(OpKernels& ops, const Tensor& dlogits);
  [[nodiscard]] Tensor mlm(OpKernels& ops, const Tensor& hidden);  // (B, T, C) -> (B, T, V)
  [[nodiscard]] Tensor mlm_backward(OpKernels& ops, const Tensor& dlogits);

  ModelConfig config_;
  ParameterSet params_;
  TrackedParam word_, position_, token_type_;
  std::unique_ptr<LayerNorm> embed_ln_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::unique_ptr<Pooler> pooler_;  // classification only
  std::unique_ptr<MlmHead> mlm_;    // masked LM only

  // Saved by forward for backward.
  Tensor ids_, token_types_, targets_, hidden_, logits_, lse_, loss_;
};

}  // namespace tandem::models
