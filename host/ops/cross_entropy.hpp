#pragma once
// Cross-entropy of rows of logits against integer targets. Descriptor (validation, cost)
// and naive reference.
//   forward:
//     logits  (N, V) f32      targets (N) i32, each in [0, V) or == ignore_index
//     lse     (N)    f32      lse[i] = log Σ_j exp(logits[i, j])           (saved for backward)
//     loss    (1)    f32      loss = (1/count) Σ_{i: targets[i] != ignore} (lse[i] − logits[i, targets[i]])
//     count = number of non-ignored rows; count == 0 gives loss 0 (and lse is still written).
//     Non-finite logits are an error ("cross_entropy: logits (N, V) contains NaN or Inf"),
//     detected by the backends while computing (no separate validation pass); on that
//     error the contents of loss and lse are unspecified.
//   backward:
//     dlogits (N, V) f32      dlogits[i, j] += dloss · (exp(logits[i, j] − lse[i]) − [j == targets[i]]) / count
//     for non-ignored rows only (ignored rows, and every row when count == 0, get nothing).

#include <cstdint>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& loss, const Tensor& lse,
                            const CrossEntropyArgs& args);
void validate_cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse, float dloss,
                                     const Tensor& dlogits, const CrossEntropyArgs& args);
// Cost of one call for N rows of V classes (exp counted as one flop).
// lse must be finite. Separate from the shape checks: it reads values an earlier op produced,
// which a recording backend does not have yet.
void validate_cross_entropy_lse(const Tensor& lse);
OpCost cross_entropy_cost(std::int64_t n, std::int64_t v);
OpCost cross_entropy_backward_cost(std::int64_t n, std::int64_t v);
// The error every backend raises for non-finite logits of shape (n, v).
[[noreturn]] void cross_entropy_nonfinite_logits(std::int64_t n, std::int64_t v);
}  // namespace tandem::op

namespace tandem::ref {
// logits (n, v), targets (n), lse (n), loss (1). Throws tandem::Error on non-finite logits.
template <class T>
void cross_entropy(const T* logits, const std::int32_t* targets, T* loss, T* lse, std::int64_t n, std::int64_t v,
                   std::int32_t ignore_index);
// dlogits (n, v) += ... from the saved lse (n).
template <class T>
void cross_entropy_backward(const T* logits, const std::int32_t* targets, const T* lse, T dloss, T* dlogits,
                            std::int64_t n, std::int64_t v, std::int32_t ignore_index);
}  // namespace tandem::ref
