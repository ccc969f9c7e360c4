#pragma once
// The learning rate of each optimizer step: linear warmup from 0 to the peak, then decay to
// min_ratio × peak by the last step. With step s counted from 1 and W warmup steps out of S:
//   s <= W            lr = peak · s / W
//   s >  W            p = (s − W − 1) / (S − W), in [0, 1)
//     cosine          lr = peak · (r + (1 − r) · (1 + cos(π p)) / 2)
//     linear          lr = peak · (r + (1 − r) · (1 − p))
//     constant        lr = peak
// The first step after warmup runs at the peak and no step runs at the decayed end point, so
// every step trains. Hugging Face's schedulers differ by one step (their step 0 has lr = 0).

#include <cstdint>
#include <string>
#include <string_view>

namespace tandem::train {

enum class Decay { Cosine, Linear, Constant };

// "cosine" | "linear" | "constant"; anything else is an error naming @p flag.
[[nodiscard]] Decay parse_decay(std::string_view name, std::string_view flag = "--decay");
[[nodiscard]] std::string decay_name(Decay decay);

struct Schedule {
  double peak_lr = 1e-4;
  std::int64_t warmup = 0;       // W
  std::int64_t total = 1;        // S, the last step
  Decay decay = Decay::Cosine;
  double min_ratio = 0.0;        // r
};

// Checks the fields (peak > 0 and finite, 0 <= W, 1 <= S, 0 <= r <= 1).
void validate(const Schedule& schedule);

// The learning rate of step @p step (1-based); steps past the total keep the final rate.
[[nodiscard]] double learning_rate(const Schedule& schedule, std::int64_t step);

}  // namespace tandem::train
