#include "tandem/trainer.hpp"

#include <utility>

#include "api/model_impl.hpp"
#include "api/options.hpp"
#include "tandem/error.hpp"
#include "train/lora.hpp"
#include "train/trainer.hpp"

namespace tandem {
inline namespace v1 {
namespace fs = std::filesystem;

struct Trainer::Impl {
  TrainOptions options;
  train::TrainConfig config;
  std::unique_ptr<train::Trainer> trainer;
  bool ran = false;
};

namespace {

train::TrainCallbacks callbacks_of(const TrainOptions& options) {
  train::TrainCallbacks callbacks;
  if (options.on_step)
    callbacks.on_step = [on_step = options.on_step](const train::StepMetrics& m, std::int64_t) { on_step(m.step, m.loss); };
  return callbacks;
}

}  // namespace

Trainer::Trainer(const fs::path& model_dir, TrainOptions options) : impl_(std::make_shared<Impl>()) {
  impl_->config = api::to_train_config(model_dir, options);
  impl_->trainer = std::make_unique<train::Trainer>(impl_->config, callbacks_of(options));
  impl_->options = std::move(options);
}

Trainer::Trainer(const Model& model, TrainOptions options)
    : Trainer((model.impl_->trained ? throw Error("Trainer: the model is a trainer's model; save() it and load the "
                                                  "saved directory to train it further")
                                    : model.impl_->dir),
              std::move(options)) {}

TrainReport Trainer::run() {
  if (impl_->ran) throw Error("Trainer::run: this trainer has already run; make a new Trainer to train again");
  impl_->ran = true;
  const train::TrainResult result = impl_->trainer->run();
  TrainReport report;
  for (const train::StepMetrics& m : result.metrics) report.losses.push_back(m.loss);
  report.eval_before = result.eval_before;
  report.eval_after = result.eval_after;
  report.final_dir = result.final_dir;
  report.last_checkpoint = result.last_checkpoint;
  return report;
}

void Trainer::save_adapter(const fs::path& dir) const {
  const train::TrainConfig& c = impl_->config;
  if (c.lora_rank <= 0) throw Error("Trainer::save_adapter: the run is full fine-tuning (lora_rank 0), it has no adapter");
  models::Model& model = impl_->trainer->model();
  // The same adapter settings the trainer applied (train::Trainer's constructor).
  train::LoraConfig lora;
  lora.rank = c.lora_rank;
  lora.alpha = static_cast<float>(c.lora_alpha);
  lora.dropout = static_cast<float>(c.lora_dropout);
  lora.targets = c.lora_targets.empty() ? train::default_lora_targets(model.config()) : c.lora_targets;
  train::save_lora_adapter(model, lora, dir, c.model);
}

Model Trainer::model() const {
  auto impl = std::make_shared<Model::Impl>();
  impl->model = std::shared_ptr<models::Model>(impl_, &impl_->trainer->model());
  impl->dir = impl_->config.model;
  impl->trained = true;
  return Model(std::move(impl));
}

std::int64_t Trainer::total_steps() const { return impl_->trainer->total_steps(); }

const TrainOptions& Trainer::options() const noexcept { return impl_->options; }

}  // namespace v1
}  // namespace tandem
