#pragma once
// Fine-tuning runs: full or LoRA, on the devices and placement policy of a sched::Session.
//
// Each optimizer step takes `accum` micro-batches from a seeded, resumable data::Batcher,
// runs their forward and backward passes as one graph, averages and clips the gradients
// (global norm, computed on the CPU), and applies AdamW (decoupled weight decay, none on
// biases and LayerNorm) at the learning rate of train/schedule.hpp. Every `eval_every`
// steps the held-out split is evaluated on the CPU; every `save_every` steps and at the end a
// checkpoint is written (train/checkpoint.hpp). The same config run twice on the same
// devices and deterministic policy gives bitwise equal losses, and so does a run resumed
// from any of its checkpoints.
//
// Data parallelism (docs/distributed.md): given a dist::Communicator of N ranks, every rank
// builds the same run, the ranks check they agree (settings, model, parameters, data size),
// rank 0's weights (and moments on resume) are broadcast, and each optimizer step takes this
// rank's rows [r·batch, (r+1)·batch) of the global batch of N·batch examples the seeded batcher
// draws, so that N ranks of --batch b train as one process of --batch N·b. Gradients are summed
// over ranks in buckets during backward (dist::GradientReducer) and averaged with the
// micro-batches before clipping; the loss is the mean over ranks. Rank 0 alone evaluates and
// writes checkpoints, metrics, plots, the final export and the trace, and only rank 0 calls
// the callbacks.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/model.hpp"
#include "sched/session.hpp"
#include "train/metrics.hpp"

namespace tandem::dist {
class Communicator;
}

namespace tandem::train {

// Every setting of a run. Each field is a `tandem finetune` flag (--<key with '-' for '_'>)
// and an optional key of the JSON config file; flags override the file.
struct TrainConfig {
  std::string model;      // Hugging Face model directory
  std::string data;       // training set (.txt, .jsonl, .ids, .bin)
  std::string eval_data;  // held-out split; empty: no evaluation
  std::string out;        // checkpoints, final export, plots
  std::int64_t steps = 0;   // optimizer steps; 0: from epochs
  std::int64_t epochs = 0;  // passes over the training set when steps is 0
  std::int64_t batch = 8;   // examples per micro-batch
  std::int64_t seq = 0;     // tokens per example; 0: the model's maximum
  double lr = 1e-4;
  std::int64_t warmup = 0;
  std::string decay = "cosine";  // cosine | linear | constant
  double min_lr_ratio = 0.0;
  double weight_decay = 0.01;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double clip = 1.0;        // global-norm clipping; 0: none
  std::int64_t accum = 1;   // micro-batches per optimizer step
  std::int64_t lora_rank = 0;  // 0: full fine-tuning
  double lora_alpha = 16.0;
  double lora_dropout = 0.0;
  std::vector<std::string> lora_targets;  // empty: the model family's usual targets
  bool merge_lora = false;  // also export the adapter merged into the base weights
  std::string devices = "cpu";
  std::string policy = "heft";  // cpu | fpga | heft | rules:FILE
  std::string fpga_model;
  std::string bitstream_dir = "bitstreams";
  bool no_history = false;   // neither read nor write the cost history files
  std::int64_t cpu_threads = 0;
  std::string trace;    // Chrome trace of every step
  std::string metrics;  // JSONL, one line per step
  std::uint64_t seed = 0;
  std::string resume;   // a checkpoint directory to continue from
  std::string task = "lm";  // lm | classify
  std::int64_t eval_every = 0;
  std::int64_t save_every = 0;
  std::int64_t keep = 2;
  bool skip_nonfinite = false;
  double allreduce_bucket_mb = 25.0;  // data parallelism: gradient bytes per allreduce bucket, in MB (1e6 bytes)
};

// One field of TrainConfig, for the JSON file and the command line alike.
using ConfigMember = std::variant<std::string TrainConfig::*, std::int64_t TrainConfig::*, double TrainConfig::*,
                                  bool TrainConfig::*, std::uint64_t TrainConfig::*,
                                  std::vector<std::string> TrainConfig::*>;
struct ConfigField {
  const char* key;  // JSON key; the flag is "--" + key with '_' as '-'
  ConfigMember member;
  const char* help;
};
[[nodiscard]] std::span<const ConfigField> config_fields();

[[nodiscard]] nlohmann::json to_json(const TrainConfig& config);
// @p base with every key of @p j applied. An unknown key or a value of the wrong type is an
// error naming @p where and the key.
[[nodiscard]] TrainConfig config_from_json(const nlohmann::json& j, TrainConfig base, const std::string& where);
// Reads a JSON config file onto the defaults (Io error naming the file when it is missing or bad).
[[nodiscard]] TrainConfig load_config_file(const std::filesystem::path& path);

// Checks every value (ranges, names, steps or epochs); errors name the flag.
void validate(const TrainConfig& config);
// The range checks of validate() alone, for a config file before flags apply; errors name
// @p origin (the file; "" for none) and the flag.
void validate_values(const TrainConfig& config, const std::string& origin);

struct TrainCallbacks {
  // After each step (metrics of that step; total is the run's last step).
  std::function<void(const StepMetrics& metrics, std::int64_t total)> on_step;
  // A line for the log: evaluation, checkpoints, export.
  std::function<void(const std::string& line)> on_log;
};

struct TrainResult {
  std::int64_t first_step = 1;  // the first step this run executed (> 1 after --resume)
  std::int64_t last_step = 0;
  std::vector<StepMetrics> metrics;  // every step of the run, resumed ones included
  std::optional<double> eval_before, eval_after;
  std::filesystem::path last_checkpoint;
  std::filesystem::path final_dir;
  std::filesystem::path loss_svg, timeline_svg;
  sched::StepSummary summary;  // the last step: forward + backward graph
};

class Trainer {
 public:
  // Loads the model and data and opens the devices; --resume restores the checkpoint. With
  // @p comm (not owned, outliving the trainer) the run is one rank of a data-parallel job.
  Trainer(TrainConfig config, TrainCallbacks callbacks = {}, dist::Communicator* comm = nullptr);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Runs the remaining steps, writes checkpoints, the final export, plots and the trace.
  TrainResult run();

  [[nodiscard]] models::Model& model();
  [[nodiscard]] sched::Session& session();
  [[nodiscard]] std::int64_t total_steps() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace tandem::train
