#pragma once
// A model's hyper-parameters, read from a Hugging Face config.json (GPT-2 or BERT).

#include <cstdint>
#include <filesystem>
#include <string>

#include "tandem/ops.hpp"

namespace tandem::models {

// Which network and head the checkpoint holds; from model_type and "architectures".
enum class Architecture {
  Gpt2LMHead,                  // GPT2LMHeadModel (also GPT2Model: the LM head is tied, so it is the same)
  BertEncoder,                 // BertModel: final hidden states only
  BertSequenceClassification,  // BertForSequenceClassification: pooler + classifier
  BertMaskedLM,                // BertForMaskedLM: transform + decoder tied to word embeddings
};

struct ModelConfig {
  std::string model_type;  // "gpt2" or "bert"
  Architecture architecture = Architecture::Gpt2LMHead;
  std::int64_t hidden = 0;         // n_embd / hidden_size
  std::int64_t layers = 0;         // n_layer / num_hidden_layers
  std::int64_t heads = 0;          // n_head / num_attention_heads
  std::int64_t intermediate = 0;   // n_inner (null = 4·n_embd) / intermediate_size
  std::int64_t max_positions = 0;  // n_positions / max_position_embeddings
  std::int64_t vocab = 0;          // vocab_size
  std::int64_t type_vocab = 0;     // BERT's type_vocab_size; 0 for GPT-2
  std::int64_t num_labels = 0;     // classification heads only
  float layer_norm_eps = 1e-5f;    // layer_norm_epsilon / layer_norm_eps
  GeluKind activation = GeluKind::Tanh;
  // Dropout probabilities as the config gives them; the models run in eval mode (no dropout)
  // until training-mode dropout is wired in.
  float hidden_dropout = 0.0f;     // resid_pdrop / hidden_dropout_prob
  float attention_dropout = 0.0f;  // attn_pdrop / attention_probs_dropout_prob
  std::string json;                // the original config.json text, written back by save_model
};

[[nodiscard]] bool is_bert(const ModelConfig& config) noexcept;
// "GPT2LMHeadModel", "BertForSequenceClassification", ...
[[nodiscard]] const char* architecture_name(Architecture architecture) noexcept;

// Parses config.json text; @p origin (the file name) starts every error message.
[[nodiscard]] ModelConfig parse_config(const std::string& text, const std::string& origin);
// Reads and parses @p file (errors are category Io).
[[nodiscard]] ModelConfig load_config(const std::filesystem::path& file);

}  // namespace tandem::models
