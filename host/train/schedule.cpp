#include "train/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "tandem/error.hpp"

namespace tandem::train {

Decay parse_decay(std::string_view name, std::string_view flag) {
  if (name == "cosine") return Decay::Cosine;
  if (name == "linear") return Decay::Linear;
  if (name == "constant") return Decay::Constant;
  throw Error(std::string(flag) + ": '" + std::string(name) + "' is not a decay (cosine, linear or constant)");
}

std::string decay_name(Decay decay) {
  switch (decay) {
    case Decay::Cosine: return "cosine";
    case Decay::Linear: return "linear";
    case Decay::Constant: return "constant";
  }
  return "cosine";
}

void validate(const Schedule& s) {
  if (!(s.peak_lr > 0.0) || !std::isfinite(s.peak_lr))
    throw Error("--lr: must be a positive finite number, got " + std::to_string(s.peak_lr));
  if (s.warmup < 0) throw Error("--warmup: must be >= 0, got " + std::to_string(s.warmup));
  if (s.total < 1) throw Error("--steps: must be >= 1, got " + std::to_string(s.total));
  if (!(s.min_ratio >= 0.0 && s.min_ratio <= 1.0))
    throw Error("--min-lr-ratio: must lie in [0, 1], got " + std::to_string(s.min_ratio));
}

double learning_rate(const Schedule& s, std::int64_t step) {
  step = std::clamp<std::int64_t>(step, 1, std::max(s.total, std::int64_t{1}));
  if (step <= s.warmup) return s.peak_lr * static_cast<double>(step) / static_cast<double>(s.warmup);
  if (s.decay == Decay::Constant || s.total <= s.warmup) return s.peak_lr;
  const double p = static_cast<double>(step - s.warmup - 1) / static_cast<double>(s.total - s.warmup);
  const double shape = s.decay == Decay::Cosine ? 0.5 * (1.0 + std::cos(std::numbers::pi * p)) : 1.0 - p;
  return s.peak_lr * (s.min_ratio + (1.0 - s.min_ratio) * shape);
}

}  // namespace tandem::train
