#include "data/batcher.hpp"

#include <algorithm>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <utility>

#include "tandem/error.hpp"

namespace tandem::data {
namespace {

// Vigna's splitmix64 finaliser: spreads nearby (seed, epoch) pairs over the engine's seed space.
std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Uniform in [0, bound) by rejection: draws below 2^64 mod bound are redrawn so every
// residue is equally likely.
std::uint64_t uniform_below(std::mt19937_64& rng, std::uint64_t bound) {
  const std::uint64_t threshold = (std::numeric_limits<std::uint64_t>::max() - bound + 1) % bound;
  for (;;) {
    const std::uint64_t r = rng();
    if (r >= threshold) return r % bound;
  }
}

void fisher_yates(std::vector<std::int64_t>& items, std::mt19937_64& rng) {
  for (std::size_t i = items.size(); i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(uniform_below(rng, i));
    std::swap(items[i - 1], items[j]);
  }
}

void check_options(const ExampleSet& set, const BatcherOptions& options) {
  if (options.batch_size < 1) throw Error("Batcher: batch_size must be positive, got " + std::to_string(options.batch_size));
  if (options.world < 1) throw Error("Batcher: world must be positive, got " + std::to_string(options.world));
  if (options.rank < 0 || options.rank >= options.world) {
    throw Error("Batcher: rank " + std::to_string(options.rank) + " outside [0, " + std::to_string(options.world) + ")");
  }
  if (std::cmp_less(set.examples.size(), options.world)) {
    throw Error("Batcher: " + std::to_string(set.examples.size()) + " examples cannot be sharded over " +
                std::to_string(options.world) + " ranks");
  }
  if (set.context < 1) throw Error("Batcher: context must be positive, got " + std::to_string(set.context));
  const bool lm = set.task == Task::LanguageModel;
  for (std::size_t i = 0; i < set.examples.size(); ++i) {
    const Example& example = set.examples[i];
    if (std::cmp_greater(example.ids.size(), set.context) || (lm && example.targets.size() != example.ids.size())) {
      throw Error("Batcher: example " + std::to_string(i) + " has " + std::to_string(example.ids.size()) + " ids and " +
                  std::to_string(example.targets.size()) + " targets for context " + std::to_string(set.context));
    }
  }
}

}  // namespace

Batcher::Batcher(ExampleSet set, const BatcherOptions& options) : set_(std::move(set)), options_(options) {
  check_options(set_, options_);
  per_rank_ = static_cast<std::int64_t>(set_.examples.size()) / options_.world;
  if (batches_per_epoch() == 0) {
    throw Error("Batcher: drop_last leaves no batch: " + std::to_string(per_rank_) + " examples per rank < batch_size " +
                std::to_string(options_.batch_size));
  }
}

std::int64_t Batcher::batches_per_epoch() const noexcept {
  const std::int64_t b = options_.batch_size;
  return options_.drop_last ? per_rank_ / b : (per_rank_ + b - 1) / b;
}

void Batcher::set_position(Position position) {
  if (position.epoch < 0 || position.index < 0 || position.index >= batches_per_epoch()) {
    throw Error("Batcher: position (epoch " + std::to_string(position.epoch) + ", index " +
                std::to_string(position.index) + ") outside [0, " + std::to_string(batches_per_epoch()) +
                ") batches per epoch");
  }
  position_ = position;
}

std::vector<std::int64_t> Batcher::epoch_order(std::int64_t epoch) const {
  std::vector<std::int64_t> global(set_.examples.size());
  std::iota(global.begin(), global.end(), std::int64_t{0});
  if (options_.shuffle) {
    std::mt19937_64 rng(splitmix64(splitmix64(options_.seed) ^ static_cast<std::uint64_t>(epoch)));
    fisher_yates(global, rng);
  }
  std::vector<std::int64_t> mine(static_cast<std::size_t>(per_rank_));
  for (std::int64_t k = 0; k < per_rank_; ++k) {
    mine[static_cast<std::size_t>(k)] = global[static_cast<std::size_t>(options_.rank + k * options_.world)];
  }
  return mine;
}

const std::vector<std::int64_t>& Batcher::current_order() {
  if (order_epoch_ != position_.epoch) {
    order_ = epoch_order(position_.epoch);
    order_epoch_ = position_.epoch;
  }
  return order_;
}

Batch Batcher::next() {
  const std::vector<std::int64_t>& order = current_order();
  const std::int64_t first = position_.index * options_.batch_size;
  const std::int64_t count = std::min(options_.batch_size, per_rank_ - first);
  Batch batch = make_batch(order, first, count);
  if (++position_.index == batches_per_epoch()) position_ = Position{position_.epoch + 1, 0};
  return batch;
}

Batch Batcher::make_batch(const std::vector<std::int64_t>& order, std::int64_t first, std::int64_t count) const {
  const auto example_at = [&](std::int64_t row) -> const Example& {
    return set_.examples[static_cast<std::size_t>(order[static_cast<std::size_t>(first + row)])];
  };
  // An empty classification text without framing still needs one (padding) column.
  std::int64_t t = 1;
  if (options_.pad_to_context) t = set_.context;
  else {
    for (std::int64_t row = 0; row < count; ++row) t = std::max(t, static_cast<std::int64_t>(example_at(row).ids.size()));
  }
  const bool lm = set_.task == Task::LanguageModel;
  Batch batch;
  batch.ids = Tensor::empty({count, t}, DType::I32);
  batch.mask = Tensor::zeros({count, t});
  if (lm) batch.targets = Tensor::empty({count, t}, DType::I32);
  else batch.labels = Tensor::empty({count}, DType::I32);
  if (set_.segments) batch.token_types = Tensor::zeros({count, t}, DType::I32);

  std::int32_t* ids = batch.ids.data<std::int32_t>();
  float* mask = batch.mask.data<float>();
  std::fill(ids, ids + count * t, options_.pad_id);
  if (lm) std::fill(batch.targets.data<std::int32_t>(), batch.targets.data<std::int32_t>() + count * t, kIgnoreIndex);
  for (std::int64_t row = 0; row < count; ++row) {
    const Example& example = example_at(row);
    const auto length = static_cast<std::int64_t>(example.ids.size());
    std::copy(example.ids.begin(), example.ids.end(), ids + row * t);
    std::fill(mask + row * t, mask + row * t + length, 1.0f);
    if (lm) std::copy(example.targets.begin(), example.targets.end(), batch.targets.data<std::int32_t>() + row * t);
    else batch.labels.data<std::int32_t>()[row] = example.label;
  }
  return batch;
}

}  // namespace tandem::data
