#pragma once
// Text generation with a GPT-2 language model, so a user can see what fine-tuning changed: the
// prompt is tokenised, then one token at a time is chosen from the logits of the last position
// (a full forward pass per token; the models are small) and appended.
//
// Choosing a token follows Hugging Face's sampling order: logits / temperature, keep the top k
// (ties with the k-th kept), softmax, draw. Temperature 0 is greedy (the first largest logit),
// which is what `generate(do_sample=False)` does.

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "models/model.hpp"
#include "ops/op_kernels.hpp"

namespace tandem::models {

struct SamplingOptions {
  std::int64_t tokens = 50;   // new tokens at most (fewer when the end-of-text token is drawn)
  double temperature = 1.0;   // 0 = greedy; else > 0 and finite
  std::int64_t top_k = 0;     // 0 = every token
  std::uint64_t seed = 0;     // same seed, same model, same prompt: same text
};

// Throws an Error naming the offending flag (--tokens, --temperature, --top-k).
void check_sampling_options(const SamplingOptions& options);

// The index of the token to emit given one position's logits (V). @p rng is used only when
// sampling (temperature > 0); draws are taken from its raw 64-bit output so that the same seed
// gives the same tokens with any standard library.
[[nodiscard]] std::int32_t choose_token(std::span<const float> logits, const SamplingOptions& options,
                                        std::mt19937_64& rng);

// The ids @p model appends to @p prompt (not including it). Each step feeds the last
// n_positions ids. Stops after options.tokens ids or right after @p eos is emitted. The model
// must be a GPT2LMHeadModel and @p prompt non-empty, with ids below the vocabulary size.
[[nodiscard]] std::vector<std::int32_t> generate(Model& model, OpKernels& ops, std::span<const std::int32_t> prompt,
                                                 const SamplingOptions& options, std::optional<std::int32_t> eos);

}  // namespace tandem::models
