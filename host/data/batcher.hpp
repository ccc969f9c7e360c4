#pragma once
// Batches of examples in a deterministic order.
//
// Epoch e visits the examples in an order fixed by (seed, e): a Fisher–Yates shuffle driven
// by std::mt19937_64, whose output sequence the C++ standard fixes, with our own unbiased
// bounded draw (std::uniform_int_distribution and std::shuffle differ between standard
// libraries). The engine is seeded with splitmix64(splitmix64(seed) ^ e), so any epoch's
// order is computed directly and a resumed run needs only (epoch, index).
//
// Sharding for data parallelism: every rank computes the same epoch order and rank r takes
// positions r, r + world, r + 2·world, ...; the last (size mod world) positions are dropped
// so every rank has the same number of examples (and of batches) per epoch.

#include <cstdint>
#include <vector>

#include "data/batch.hpp"
#include "data/examples.hpp"

namespace tandem::data {

struct BatcherOptions {
  std::int64_t batch_size = 1;
  std::uint64_t seed = 0;
  bool shuffle = true;
  // Drop an epoch's last, smaller batch instead of yielding it.
  bool drop_last = false;
  // Pad every batch to the set's context T instead of to its longest example.
  bool pad_to_context = false;
  // Input id written where the mask is 0: the tokenizer's pad id, or 0 when it has none.
  std::int32_t pad_id = 0;
  int rank = 0;
  int world = 1;
};

// Where the next batch comes from: batch @c index of epoch @c epoch.
struct Position {
  std::int64_t epoch = 0;
  std::int64_t index = 0;
  friend bool operator==(const Position&, const Position&) = default;
};

class Batcher {
 public:
  Batcher(ExampleSet set, const BatcherOptions& options);

  // The batch at position(), then advances (to batch 0 of the next epoch after the last).
  [[nodiscard]] Batch next();

  [[nodiscard]] Position position() const noexcept { return position_; }
  // Resumes at @p position; index must be below batches_per_epoch().
  void set_position(Position position);

  // Examples this rank sees per epoch.
  [[nodiscard]] std::int64_t examples_per_epoch() const noexcept { return per_rank_; }
  [[nodiscard]] std::int64_t batches_per_epoch() const noexcept;
  // Indices into the example set, in the order this rank visits them in @p epoch.
  [[nodiscard]] std::vector<std::int64_t> epoch_order(std::int64_t epoch) const;

 private:
  [[nodiscard]] Batch make_batch(const std::vector<std::int64_t>& order, std::int64_t first, std::int64_t count) const;
  [[nodiscard]] const std::vector<std::int64_t>& current_order();

  ExampleSet set_;
  BatcherOptions options_;
  std::int64_t per_rank_ = 0;
  Position position_;
  std::vector<std::int64_t> order_;  // epoch_order(order_epoch_), computed once per epoch
  std::int64_t order_epoch_ = -1;
};

}  // namespace tandem::data
