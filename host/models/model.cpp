#include "models/model.hpp"

#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdio>
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

namespace {

// The embedding tables and every layer's weight matrices, a lower bound on the real count
// (biases and LayerNorms left out). In double: with dimensions up to 2^24 the exact product
// can pass int64.
double parameter_lower_bound(const ModelConfig& c) {
  const double hidden = static_cast<double>(c.hidden);
  const double embeddings = static_cast<double>(c.vocab + c.max_positions + c.type_vocab) * hidden;
  const double per_layer = 4.0 * hidden * hidden + 2.0 * hidden * static_cast<double>(c.intermediate);
  return embeddings + static_cast<double>(c.layers) * per_layer;
}

}  // namespace

void check_fits_in_memory(const ModelConfig& config, const std::string& origin) {
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return;  // unknown: let the allocation decide
  const double physical = static_cast<double>(pages) * static_cast<double>(page_size);
  const double parameters = parameter_lower_bound(config);
  const double needed = parameters * 2.0 * sizeof(float);  // value + gradient
  if (needed > physical) {
    char problem[160];
    std::snprintf(problem, sizeof problem,
                  ": the model has at least %.3g parameters, %.3g GiB with their gradients, more than this machine's "
                  "%.3g GiB of memory",
                  parameters, needed / std::ldexp(1.0, 30), physical / std::ldexp(1.0, 30));
    throw Error(origin + problem, ErrorCategory::Io);
  }
}

std::unique_ptr<Model> load_model(const std::filesystem::path& dir) {
  ModelConfig config = load_config(dir / "config.json");
  check_fits_in_memory(config, (dir / "config.json").string());
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
