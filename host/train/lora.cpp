#include "train/lora.hpp"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"
#include "models/layers.hpp"
#include "tandem/error.hpp"
#include "tandem/ops.hpp"

namespace tandem::train {

namespace {

using nlohmann::json;

// SplitMix64's finaliser (Steele, Lea & Flood 2014): a fixed, well-mixed hash, so random
// values depend only on their inputs and are the same with every standard library.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t mix(std::uint64_t a, std::uint64_t b, std::uint64_t c) { return mix(mix(mix(a) ^ b) ^ c); }

// Uniform in [0, 1) from the top 24 bits: every value is an exact float.
float unit_uniform(std::uint64_t bits) { return static_cast<float>(bits >> 40) * 0x1.0p-24f; }

bool targets_module(const std::string& module, const std::vector<std::string>& targets) {
  for (const std::string& t : targets)
    if (module == t || (module.size() > t.size() && module.ends_with(t) && module[module.size() - t.size() - 1] == '.'))
      return true;
  return false;
}

void check_config(const LoraConfig& c, std::string_view origin) {
  const std::string o(origin);
  if (c.rank < 1) throw Error(o + ": LoRA rank " + std::to_string(c.rank) + " must be >= 1");
  if (!std::isfinite(c.alpha) || c.alpha <= 0.0f) throw Error(o + ": LoRA alpha " + std::to_string(c.alpha) + " must be > 0");
  if (!(c.dropout >= 0.0f && c.dropout < 1.0f))
    throw Error(o + ": LoRA dropout " + std::to_string(c.dropout) + " must be in [0, 1)");
  if (c.targets.empty()) throw Error(o + ": LoRA needs at least one target module");
}

// A (in, r) uniform in ±1/sqrt(in): PyTorch's kaiming_uniform_(a = sqrt(5)) on PEFT's (r, in)
// lora_A, whose fan-in is in: gain sqrt(2 / (1 + 5)) · sqrt(3 / in) = 1 / sqrt(in).
void init_a(Tensor& a, std::uint64_t seed, std::uint64_t module) {
  const float bound = 1.0f / std::sqrt(static_cast<float>(a.dim(0)));
  float* p = a.data<float>();
  for (std::int64_t i = 0; i < a.numel(); ++i)
    p[i] = (2.0f * unit_uniform(mix(seed, module, static_cast<std::uint64_t>(i))) - 1.0f) * bound;
}

// (rows, cols) -> a new contiguous (cols, rows).
Tensor transposed(const Tensor& t) {
  const Tensor c = t.contiguous();
  const std::int64_t rows = c.dim(0), cols = c.dim(1);
  Tensor out = Tensor::empty(Shape{cols, rows});
  const float* src = c.data<float>();
  float* dst = out.data<float>();
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) dst[j * rows + i] = src[i * cols + j];
  return out;
}

std::string task_type(const models::ModelConfig& config) {
  switch (config.architecture) {
    case models::Architecture::Gpt2LMHead: return "CAUSAL_LM";
    case models::Architecture::BertSequenceClassification: return "SEQ_CLS";
    case models::Architecture::BertEncoder: return "FEATURE_EXTRACTION";
    case models::Architecture::BertMaskedLM: break;
  }
  return {};  // PEFT has no masked-LM task type: written as null
}

json adapter_config_json(models::Model& model, const LoraConfig& c, const std::string& base_model) {
  const std::string task = task_type(model.config());
  return json{{"peft_type", "LORA"},
              {"r", c.rank},
              {"lora_alpha", c.alpha},
              {"lora_dropout", c.dropout},
              {"target_modules", c.targets},
              {"base_model_name_or_path", base_model},
              {"task_type", task.empty() ? json(nullptr) : json(task)},
              // GPT-2's Conv1D stores (in, out): PEFT must transpose when it merges.
              {"fan_in_fan_out", !models::is_bert(model.config())},
              {"bias", "none"},
              {"modules_to_save", nullptr},
              {"init_lora_weights", true},
              {"use_rslora", false},
              {"use_dora", false},
              {"inference_mode", true}};
}

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(file.string() + ": cannot open for reading", ErrorCategory::Io);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(file.string() + ": read failed", ErrorCategory::Io);
  return text.str();
}

// Rejects PEFT options whose adapters Tandem would compute differently.
void reject_unsupported(const json& j, const std::string& o) {
  const auto truthy = [&](const char* key) { return j.contains(key) && !j[key].is_null() && j[key] != false; };
  const auto nonempty = [&](const char* key) { return j.contains(key) && !j[key].is_null() && !j[key].empty(); };
  if (truthy("use_dora")) throw Error(o + ": use_dora (DoRA) is not supported", ErrorCategory::Io);
  if (truthy("use_rslora")) throw Error(o + ": use_rslora (scale alpha/sqrt(r)) is not supported", ErrorCategory::Io);
  if (truthy("lora_bias")) throw Error(o + ": lora_bias is not supported", ErrorCategory::Io);
  if (j.contains("bias") && j["bias"] != "none")
    throw Error(o + ": bias '" + j["bias"].dump() + "' is not supported (only \"none\")", ErrorCategory::Io);
  if (nonempty("rank_pattern") || nonempty("alpha_pattern"))
    throw Error(o + ": per-module rank_pattern / alpha_pattern is not supported", ErrorCategory::Io);
  if (nonempty("layers_to_transform")) throw Error(o + ": layers_to_transform is not supported", ErrorCategory::Io);
}

LoraConfig parse_adapter_config(const std::string& text, const std::string& o) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(o + ": not valid JSON: " + e.what(), ErrorCategory::Io);
  }
  if (!j.is_object()) throw Error(o + ": expected a JSON object", ErrorCategory::Io);
  if (j.value("peft_type", json()) != "LORA")
    throw Error(o + ": peft_type is " + j.value("peft_type", json()).dump() + ", expected \"LORA\"", ErrorCategory::Io);
  reject_unsupported(j, o);
  LoraConfig c;
  try {
    c.rank = j.at("r").get<std::int64_t>();
    c.alpha = j.at("lora_alpha").get<float>();
    c.dropout = j.value("lora_dropout", 0.0f);
    const json& t = j.at("target_modules");
    if (t.is_string())
      throw Error(o + ": target_modules as a regular expression is not supported (give a list of names)",
                  ErrorCategory::Io);
    c.targets = t.get<std::vector<std::string>>();
  } catch (const json::exception& e) {
    throw Error(o + ": " + e.what(), ErrorCategory::Io);
  }
  try {
    check_config(c, o);
  } catch (const Error& e) {
    throw Error(e.what(), ErrorCategory::Io);
  }
  return c;
}

models::Parameter* find_parameter(models::Model& model, std::string_view name) {
  for (models::Parameter& p : model.parameters())
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace

std::vector<std::string> default_lora_targets(const models::ModelConfig& config) {
  if (models::is_bert(config)) return {"query", "key", "value", "dense"};
  return {"c_attn", "c_proj", "c_fc"};
}

std::size_t apply_lora(models::Model& model, const LoraConfig& config, std::uint64_t seed) {
  check_config(config, "lora");
  if (has_lora(model)) throw Error("lora: the model already has adapters");
  const std::vector<models::Linear*> linears = model.linears();
  for (const std::string& t : config.targets) {
    bool found = false;
    for (const models::Linear* l : linears) found = found || targets_module(l->name(), {t});
    if (!found) throw Error("lora: target module '" + t + "' matches no linear layer of the model");
  }
  for (models::Parameter& p : model.parameters()) p.trainable = false;
  const float scale = config.alpha / static_cast<float>(config.rank);
  std::size_t adapted = 0;
  for (std::size_t i = 0; i < linears.size(); ++i) {
    if (!targets_module(linears[i]->name(), config.targets)) continue;
    models::LoraAdapter& adapter = linears[i]->add_lora(kPeftPrefix, config.rank, scale, config.dropout);
    init_a(adapter.a.value, seed, i);
    ++adapted;
  }
  return adapted;
}

void set_lora_training(models::Model& model, bool training) {
  for (models::Linear* l : model.linears())
    if (models::LoraAdapter* a = l->lora()) a->training = training;
}

void set_lora_step(models::Model& model, std::uint64_t seed, std::int64_t step) {
  const std::vector<models::Linear*> linears = model.linears();
  for (std::size_t i = 0; i < linears.size(); ++i)
    if (models::LoraAdapter* a = linears[i]->lora()) a->seed = mix(seed, static_cast<std::uint64_t>(step), i);
}

bool has_lora(models::Model& model) {
  for (models::Linear* l : model.linears())
    if (l->lora()) return true;
  return false;
}

void save_lora_adapter(models::Model& model, const LoraConfig& config, const std::filesystem::path& dir,
                       const std::string& base_model) {
  if (!has_lora(model)) throw Error(dir.string() + ": cannot save a LoRA adapter: the model has none");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(dir.string() + ": cannot create the directory: " + ec.message(), ErrorCategory::Io);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (models::Linear* l : model.linears()) {
    const models::LoraAdapter* a = l->lora();
    if (!a) continue;
    const std::string stem = kPeftPrefix + l->name();
    tensors.emplace_back(stem + ".lora_A.weight", transposed(a->a.value));  // (r, in)
    tensors.emplace_back(stem + ".lora_B.weight", transposed(a->b.value));  // (out, r)
  }
  io::write_safetensors(dir / "adapter_model.safetensors", tensors, {{"format", "pt"}});
  const std::string text = adapter_config_json(model, config, base_model).dump(2) + "\n";
  io::write_file_atomically(dir / "adapter_config.json", std::as_bytes(std::span<const char>(text.data(), text.size())));
}

LoraConfig load_lora_adapter(models::Model& model, const std::filesystem::path& dir) {
  const std::filesystem::path config_file = dir / "adapter_config.json";
  const LoraConfig config = parse_adapter_config(read_text(config_file), config_file.string());
  const io::SafetensorsReader file(dir / "adapter_model.safetensors");
  const std::string path = file.path().string();
  try {
    apply_lora(model, config, 0);
  } catch (const Error& e) {
    throw Error(config_file.string() + ": " + e.what(), ErrorCategory::Io);
  }
  std::set<std::string> claimed;
  const auto fill = [&](const std::string& name, Tensor& dst, bool transpose) {
    if (!file.contains(name)) throw Error(path + ": tensor '" + name + "' not found", ErrorCategory::Io);
    const Tensor src = file.load(name);
    const Tensor value = transpose && src.rank() == 2 ? transposed(src) : src;
    if (!(value.shape() == dst.shape()))
      throw Error(path + ": tensor '" + name + "': expected " + (transpose ? transposed(dst) : dst).shape().str() +
                      ", found " + src.shape().str(),
                  ErrorCategory::Io);
    dst.copy_from(value);
    claimed.insert(name);
  };
  for (models::Linear* l : model.linears()) {
    models::LoraAdapter* a = l->lora();
    if (!a) continue;
    const std::string stem = kPeftPrefix + l->name();
    fill(stem + ".lora_A.weight", a->a.value, true);
    fill(stem + ".lora_B.weight", a->b.value, true);
  }
  for (const std::string& name : file.names()) {
    if (claimed.contains(name)) continue;
    models::Parameter* p = name.starts_with(kPeftPrefix) ? find_parameter(model, name.substr(std::string_view(kPeftPrefix).size())) : nullptr;
    if (!p) throw Error(path + ": tensor '" + name + "' names no LoRA adapter or parameter of the model", ErrorCategory::Io);
    fill(name, p->value, false);
  }
  return config;
}

std::unique_ptr<models::Model> merge_lora(models::Model& model) {
  std::unique_ptr<models::Model> merged = models::make_model(model.config());
  for (models::Parameter& p : merged->parameters()) {
    const models::Parameter* src = find_parameter(model, p.name);
    if (!src) throw Error("lora merge: parameter '" + p.name + "' is missing from the adapted model", ErrorCategory::Internal);
    p.value.copy_from(src->value);
  }
  const std::vector<models::Linear*> from = model.linears();
  const std::vector<models::Linear*> to = merged->linears();
  for (std::size_t i = 0; i < from.size(); ++i) {
    const models::LoraAdapter* a = from[i]->lora();
    if (!a) continue;
    Tensor w = to[i]->weight();
    // Conv1D: W (in, out) += s · A (in, r) · B (r, out); nn.Linear: W (out, in) += s · Bᵀ · Aᵀ.
    if (to[i]->layout() == models::WeightLayout::InOut)
      ops::matmul(a->a.value, a->b.value, w, {.alpha = a->scale, .beta = 1.0f});
    else
      ops::matmul(a->b.value, a->a.value, w, {.trans_a = true, .trans_b = true, .alpha = a->scale, .beta = 1.0f});
  }
  return merged;
}

}  // namespace tandem::train
