#include "data/examples.hpp"

#include <algorithm>
#include <string>

#include "tandem/error.hpp"

namespace tandem::data {
namespace {

// Appends the windows of one sequence; window start s covers ids[s .. min(s+T, n-1)].
void append_windows(const std::vector<std::int32_t>& ids, std::int64_t context, std::vector<Example>& out) {
  const auto n = static_cast<std::int64_t>(ids.size());
  for (std::int64_t start = 0; start + 1 < n; start += context) {
    const std::int64_t length = std::min(context, n - 1 - start);
    const auto first = ids.begin() + start;
    out.push_back(Example{{first, first + length}, {first + 1, first + 1 + length}, -1});
  }
}

void check_context(const Dataset& dataset, std::int64_t context, std::int64_t minimum) {
  if (context < minimum) {
    throw Error(dataset.source.string() + ": context length must be at least " + std::to_string(minimum) + ", got " +
                std::to_string(context));
  }
}

}  // namespace

ExampleSet lm_examples(const Dataset& dataset, std::int64_t context) {
  check_context(dataset, context, 1);
  ExampleSet set{Task::LanguageModel, context, false, {}};
  for (const std::vector<std::int32_t>& ids : dataset.sequences) append_windows(ids, context, set.examples);
  if (set.examples.empty()) {
    throw Error(dataset.source.string() + ": no language-model window: every sequence has fewer than 2 tokens",
                ErrorCategory::Io);
  }
  return set;
}

ExampleSet classification_examples(const Dataset& dataset, std::int64_t context, const Framing& framing) {
  if (framing.cls.has_value() != framing.sep.has_value()) {
    throw Error(dataset.source.string() + ": BERT framing needs both [CLS] and [SEP] ids");
  }
  if (dataset.labels.size() != dataset.sequences.size()) {
    throw Error(dataset.source.string() + ": classification needs a dataset loaded with labels");
  }
  const bool bert = framing.cls.has_value();
  check_context(dataset, context, bert ? 2 : 1);
  const std::int64_t room = bert ? context - 2 : context;
  ExampleSet set{Task::Classification, context, bert, {}};
  set.examples.reserve(dataset.sequences.size());
  for (std::size_t i = 0; i < dataset.sequences.size(); ++i) {
    const std::vector<std::int32_t>& text = dataset.sequences[i];
    const auto kept = std::min(room, static_cast<std::int64_t>(text.size()));
    Example example{{}, {}, dataset.labels[i]};
    example.ids.reserve(static_cast<std::size_t>(kept) + 2);
    if (bert) example.ids.push_back(*framing.cls);
    example.ids.insert(example.ids.end(), text.begin(), text.begin() + kept);
    if (bert) example.ids.push_back(*framing.sep);
    set.examples.push_back(std::move(example));
  }
  return set;
}

}  // namespace tandem::data
