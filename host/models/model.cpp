#include "models/model.hpp"

#include <cstddef>
#include <map>
#include <utility>
#include <vector>

#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"
#include "models/bert.hpp"
#include "models/gpt2.hpp"
#include "tandem/error.hpp"

namespace tandem::models {

float Model::forward(const data::Batch& batch, OpKernels& ops) {
  forward_ops(batch, ops);
  const Tensor& loss = loss_tensor();
  return loss.defined() ? loss.data<float>()[0] : 0.0f;
}

void Model::zero_grad() {
  for (Parameter& p : parameters())
    if (p.grad.defined()) p.grad.fill(0.0f);
}

std::unique_ptr<Model> make_model(const ModelConfig& config) {
  if (is_bert(config)) return std::make_unique<Bert>(config);
  return std::make_unique<Gpt2>(config);
}

std::unique_ptr<Model> load_model(const std::filesystem::path& dir) {
  ModelConfig config = load_config(dir / "config.json");
  const io::SafetensorsReader weights(dir / "model.safetensors");
  if (is_bert(config)) {
    auto bert = std::make_unique<Bert>(std::move(config));
    bert->load(weights);
    return bert;
  }
  auto gpt2 = std::make_unique<Gpt2>(std::move(config));
  gpt2->load(weights);
  return gpt2;
}

void save_model(Model& model, const std::filesystem::path& dir) {
  const std::string& json = model.config().json;
  if (json.empty())
    throw Error(dir.string() + ": cannot save a model whose config was not read from a config.json (no text to write)");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(dir.string() + ": cannot create the directory: " + ec.message(), ErrorCategory::Io);
  io::write_file_atomically(dir / "config.json",
                            std::as_bytes(std::span<const char>(json.data(), json.size())));
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const Parameter& p : model.parameters()) tensors.emplace_back(p.name, p.value);
  io::write_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
}

}  // namespace tandem::models
