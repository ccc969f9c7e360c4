#pragma once
// Training checkpoints: <out>/checkpoint-<step>/ holding
//   model.safetensors      the trainable parameters under their Hugging Face names (all of
//                          them for full fine-tuning)
//   optimizer.safetensors  AdamW moments "m.<name>" and "v.<name>" of those parameters
//   trainer_state.json     step, optimizer updates applied, the run's config, the data
//                          position, the seed, and every step's metrics so far
// A checkpoint is written into a hidden temporary directory that is fsync'ed and renamed to
// its name, so a crash or SIGKILL at any point leaves the earlier checkpoints as they were and
// never a partial directory under a checkpoint name. trainer_state.json is written last: a
// directory without it is not a checkpoint.
//
// Test hook: TANDEM_TEST_CHECKPOINT_SLEEP="STEP:MS" sleeps MS milliseconds in the middle of
// writing the checkpoint of step STEP (after the model, before the state), so a test can kill
// the process while the write is under way.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/batcher.hpp"
#include "models/model.hpp"
#include "tandem/tensor.hpp"
#include "train/metrics.hpp"

namespace tandem::train {

struct TrainerState {
  std::int64_t step = 0;             // trainer steps done (skipped non-finite steps included)
  std::int64_t optimizer_steps = 0;  // AdamW updates applied: the bias-correction count
  nlohmann::json config;             // the run's TrainConfig as JSON
  data::Position position;           // where the next batch comes from
  std::uint64_t seed = 0;            // the data order (and any other randomness) derives from it
  std::vector<StepMetrics> metrics;  // every step so far
};

[[nodiscard]] nlohmann::json to_json(const TrainerState& state);
[[nodiscard]] TrainerState state_from_json(const nlohmann::json& j, const std::string& where);

// AdamW moments, in the order of model.parameters().
struct Moments {
  std::vector<Tensor>& m;
  std::vector<Tensor>& v;
};

// Writes the checkpoint of state.step under @p out (created if missing) and then removes the
// oldest checkpoints so that at most @p keep remain. Returns the checkpoint's directory.
std::filesystem::path save_checkpoint(const std::filesystem::path& out, models::Model& model, const Moments& moments,
                                      const TrainerState& state, int keep);

// Reads trainer_state.json of checkpoint @p dir.
[[nodiscard]] TrainerState read_trainer_state(const std::filesystem::path& dir);

// Loads checkpoint @p dir into @p model (its trainable parameters) and @p moments; every
// trainable parameter must be there with its shape. Returns the trainer state.
TrainerState load_checkpoint(const std::filesystem::path& dir, models::Model& model, const Moments& moments);

// The complete checkpoints under @p out (those with trainer_state.json), oldest step first.
[[nodiscard]] std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& out);
[[nodiscard]] std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& out);

}  // namespace tandem::train
