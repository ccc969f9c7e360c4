#include "models/parameters.hpp"

#include <utility>

#include "io/safetensors.hpp"
#include "tandem/error.hpp"

namespace tandem::models {

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Old BERT checkpoints (TF conversions) name LayerNorm's weight and bias gamma and beta.
std::string old_layernorm_name(std::string_view name) {
  const std::string_view stem = name.substr(0, name.rfind('.') + 1);
  if (ends_with(name, "LayerNorm.weight")) return std::string(stem) + "gamma";
  if (ends_with(name, "LayerNorm.bias")) return std::string(stem) + "beta";
  return {};
}

// Every spelling under which @p name may be stored, in order of preference.
std::vector<std::string> spellings(std::string_view name, std::string_view base_prefix) {
  std::vector<std::string> out{std::string(name)};
  if (!base_prefix.empty()) {
    if (name.starts_with(base_prefix)) out.emplace_back(name.substr(base_prefix.size()));
    else out.push_back(std::string(base_prefix) + std::string(name));
  }
  const std::size_t n = out.size();
  for (std::size_t i = 0; i < n; ++i)
    if (std::string old = old_layernorm_name(out[i]); !old.empty()) out.push_back(std::move(old));
  return out;
}

}  // namespace

ParamRef ParameterSet::add(std::string name, const Shape& shape, bool decay) {
  Parameter p;
  p.name = std::move(name);
  p.value = Tensor::zeros(shape);
  p.grad = Tensor::zeros(shape);
  p.decay = decay;
  params_.push_back(p);
  return {p.value, p.grad};
}

Parameter* ParameterSet::find(std::string_view name) noexcept {
  for (Parameter& p : params_)
    if (p.name == name) return &p;
  return nullptr;
}

void ParameterSet::load(const io::SafetensorsReader& file, std::string_view base_prefix) {
  const std::string path = file.path().string();
  for (Parameter& p : params_) {
    std::string stored;
    for (const std::string& s : spellings(p.name, base_prefix))
      if (file.contains(s)) {
        stored = s;
        break;
      }
    if (stored.empty())
      throw Error(path + ": tensor '" + p.name + "' " + p.value.shape().str() + " not found", ErrorCategory::Io);
    const Shape found = file.shape(stored);
    if (!(found == p.value.shape()))
      throw Error(path + ": tensor '" + stored + "': expected " + p.value.shape().str() + ", found " + found.str(),
                  ErrorCategory::Io);
    p.value.copy_from(file.load(stored));
  }
}

}  // namespace tandem::models
