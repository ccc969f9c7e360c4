#pragma once
// Training examples cut from a Dataset to fit a model's context length T.
//
// Language modelling: a sequence is cut into windows of T+1 tokens that overlap by one,
// window w covering ids[w·T .. w·T+T], whose inputs are its first T tokens and targets its
// last T. The tail that cannot fill a window becomes one shorter window (at least one input
// and one target); a batch pads it with targets = kIgnoreIndex. A sequence of one token
// predicts nothing and gives no window.
//
// Classification: one example per sequence with its label, truncated to fit T. With BERT
// framing ([CLS] and [SEP] ids given) the input is [CLS] text [SEP], so at most T-2 text
// tokens are kept, and batches carry token types (all segment 0).

#include <cstdint>
#include <optional>
#include <vector>

#include "data/dataset.hpp"

namespace tandem::data {

// Targets equal to this are ignored by the loss (as PyTorch's CrossEntropyLoss default).
inline constexpr std::int32_t kIgnoreIndex = -100;

enum class Task { LanguageModel, Classification };

struct Example {
  std::vector<std::int32_t> ids;      // model input, 1..T tokens (classification: 0..T)
  std::vector<std::int32_t> targets;  // language model: next token of each input; else empty
  std::int32_t label = -1;            // classification: class index; else -1
};

struct ExampleSet {
  Task task = Task::LanguageModel;
  std::int64_t context = 0;  // T
  bool segments = false;     // BERT framing: batches carry token_types
  std::vector<Example> examples;
};

// Windows of every sequence of @p dataset in order. No window at all (every sequence has a
// single token) is an error naming the dataset's file.
ExampleSet lm_examples(const Dataset& dataset, std::int64_t context);

// [CLS] and [SEP] ids for BERT framing; both or neither.
struct Framing {
  std::optional<std::int32_t> cls;
  std::optional<std::int32_t> sep;
};

// One example per sequence of a dataset loaded with labels.
ExampleSet classification_examples(const Dataset& dataset, std::int64_t context, const Framing& framing = {});

}  // namespace tandem::data
