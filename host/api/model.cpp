#include "tandem/model.hpp"

#include <system_error>

#include "api/model_impl.hpp"
#include "backends/registry.hpp"
#include "models/evaluate.hpp"
#include "tandem/error.hpp"
#include "train/lora.hpp"

namespace tandem {
inline namespace v1 {
namespace fs = std::filesystem;

namespace {

// Tokenizer and generation files a checkpoint directory may hold besides the weights.
constexpr const char* kSideFiles[] = {"tokenizer.json", "tokenizer_config.json", "vocab.json",
                                      "merges.txt",     "vocab.txt",             "special_tokens_map.json",
                                      "generation_config.json"};

void copy_side_files(const fs::path& from, const fs::path& to) {
  for (const char* name : kSideFiles) {
    std::error_code ec;
    if (!fs::is_regular_file(from / name, ec)) continue;
    fs::copy_file(from / name, to / name, fs::copy_options::overwrite_existing, ec);
    if (ec) throw Error((to / name).string() + ": cannot copy the tokenizer file: " + ec.message(), ErrorCategory::Io);
  }
}

}  // namespace

Model::Model(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Model Model::load(const fs::path& dir) {
  auto impl = std::make_shared<Impl>();
  impl->model = models::load_model_dir(dir);
  impl->dir = dir;
  return Model(std::move(impl));
}

std::string Model::family() const { return impl_->model->config().model_type; }

std::string Model::architecture() const { return models::architecture_name(impl_->model->config().architecture); }

const fs::path& Model::directory() const noexcept { return impl_->dir; }

std::int64_t Model::parameter_count() const {
  std::int64_t n = 0;
  for (const models::Parameter& p : impl_->model->parameters()) n += p.value.numel();
  return n;
}

std::int64_t Model::trainable_parameter_count() const {
  std::int64_t n = 0;
  for (const models::Parameter& p : impl_->model->parameters())
    if (p.trainable) n += p.value.numel();
  return n;
}

double Model::evaluate(const fs::path& data, const EvalOptions& options) const {
  if (options.batch < 1) throw Error("EvalOptions.batch: must be >= 1, got " + std::to_string(options.batch));
  if (options.context < 0) throw Error("EvalOptions.context: must be >= 0, got " + std::to_string(options.context));
  std::unique_ptr<OpKernels> ops = open_backend(options.device);
  const models::ModelData examples = models::load_model_data(*impl_->model, impl_->dir, data, options.context);
  return models::evaluate(*impl_->model, examples, *ops, options.batch).loss;
}

void Model::save(const fs::path& dir) const {
  models::Model& model = *impl_->model;
  if (train::has_lora(model))
    models::save_model(*train::merge_lora(model), dir);
  else
    models::save_model(model, dir);
  copy_side_files(impl_->dir, dir);
}

}  // namespace v1
}  // namespace tandem
