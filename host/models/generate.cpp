#include "models/generate.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include "data/batch.hpp"
#include "tandem/error.hpp"

namespace tandem::models {
namespace {

std::int32_t argmax(std::span<const float> logits) {
  return static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

// The smallest logit that survives top-k: the k-th largest (so ties with it are kept too).
float top_k_threshold(std::span<const float> logits, std::int64_t k) {
  if (k <= 0 || k >= static_cast<std::int64_t>(logits.size())) return -INFINITY;
  std::vector<float> sorted(logits.begin(), logits.end());
  const auto kth = sorted.begin() + (k - 1);
  std::nth_element(sorted.begin(), kth, sorted.end(), std::greater<>());
  return *kth;
}

// A uniform double in [0, 1) from the top 53 bits of one draw.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1p-53; }

// One (1, T) batch of the last @p window ids of @p ids, without targets (logits only).
data::Batch context_batch(const std::vector<std::int32_t>& ids, std::int64_t window) {
  const auto t = std::min(window, static_cast<std::int64_t>(ids.size()));
  data::Batch batch;
  batch.ids = Tensor::empty(Shape{1, t}, DType::I32);
  std::copy(ids.end() - t, ids.end(), batch.ids.data<std::int32_t>());
  return batch;
}

void check_prompt(const ModelConfig& config, std::span<const std::int32_t> prompt) {
  if (prompt.empty()) throw Error("generate: --prompt gives no tokens and the tokenizer has no <|endoftext|> to start from");
  for (const std::int32_t id : prompt) {
    if (id < 0 || id >= config.vocab) {
      throw Error("generate: prompt token id " + std::to_string(id) + " is outside the model's vocabulary of " +
                  std::to_string(config.vocab));
    }
  }
}

}  // namespace

void check_sampling_options(const SamplingOptions& options) {
  if (options.tokens < 0) throw Error("--tokens " + std::to_string(options.tokens) + ": must be 0 or more");
  if (!std::isfinite(options.temperature) || options.temperature < 0) {
    throw Error("--temperature " + std::to_string(options.temperature) + ": must be finite and >= 0 (0 = greedy)");
  }
  if (options.top_k < 0) throw Error("--top-k " + std::to_string(options.top_k) + ": must be 0 (off) or more");
}

std::int32_t choose_token(std::span<const float> logits, const SamplingOptions& options, std::mt19937_64& rng) {
  if (logits.empty()) throw Error("generate: empty logits", ErrorCategory::Internal);
  if (options.temperature == 0) return argmax(logits);
  const float threshold = top_k_threshold(logits, options.top_k);
  const double top = logits[static_cast<std::size_t>(argmax(logits))];
  // Unnormalised softmax of logits / T over the kept tokens, in double.
  std::vector<double> weight(logits.size(), 0.0);
  double total = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] < threshold) continue;
    weight[i] = std::exp((static_cast<double>(logits[i]) - top) / options.temperature);
    total += weight[i];
  }
  const double target = uniform01(rng) * total;
  double cumulative = 0;
  std::int32_t last_kept = 0;
  for (std::size_t i = 0; i < weight.size(); ++i) {
    if (weight[i] == 0) continue;
    cumulative += weight[i];
    last_kept = static_cast<std::int32_t>(i);
    if (cumulative > target) return last_kept;
  }
  return last_kept;  // rounding left target at the very top of the range
}

std::vector<std::int32_t> generate(Model& model, OpKernels& ops, std::span<const std::int32_t> prompt,
                                   const SamplingOptions& options, std::optional<std::int32_t> eos) {
  const ModelConfig& config = model.config();
  if (config.architecture != Architecture::Gpt2LMHead) {
    throw Error(std::string("generate: needs a GPT2LMHeadModel, the model is ") + architecture_name(config.architecture));
  }
  check_sampling_options(options);
  check_prompt(config, prompt);
  std::mt19937_64 rng(options.seed);
  std::vector<std::int32_t> ids(prompt.begin(), prompt.end());
  std::vector<std::int32_t> out;
  const auto vocab = static_cast<std::size_t>(config.vocab);
  for (std::int64_t step = 0; step < options.tokens; ++step) {
    const data::Batch batch = context_batch(ids, config.max_positions);
    model.forward_ops(batch, ops);
    const Tensor logits = model.logits().contiguous();  // (1, T, V)
    const std::span<const float> last(logits.data<float>() + (static_cast<std::size_t>(logits.dim(1)) - 1) * vocab, vocab);
    const std::int32_t next = choose_token(last, options, rng);
    ids.push_back(next);
    out.push_back(next);
    if (eos && next == *eos) break;
  }
  return out;
}

}  // namespace tandem::models
