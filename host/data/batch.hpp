#pragma once
// One training or evaluation batch as the models consume it.

#include "tandem/tensor.hpp"

namespace tandem::data {

struct Batch {
  Tensor ids;          // (B, T) i32 token ids, padding where mask is 0
  Tensor targets;      // (B, T) i32 next-token targets for language models, -100 = ignore; else undefined
  Tensor labels;       // (B) i32 class labels for classification; else undefined
  Tensor mask;         // (B, T) f32, 1 for real tokens, 0 for padding; undefined = all real
  Tensor token_types;  // (B, T) i32 BERT segment ids; undefined = all 0
};

}  // namespace tandem::data
