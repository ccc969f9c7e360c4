#include "models/config.hpp"

#include <cstdint>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

#include "core/printable.hpp"
#include "tandem/error.hpp"

namespace tandem::models {

namespace {

using nlohmann::json;

// No real transformer comes near this in any dimension; the bound keeps sizes derived from
// the config (4·n_embd, tensor element counts) far from int64 overflow.
constexpr std::int64_t kMaxDimension = std::int64_t{1} << 24;

// Appended piecewise: GCC 12 reports `"'" + std::string + "'"` here as a -Wrestrict overlap
// (a known false positive of its inlined char_traits::copy).
std::string quoted(const std::string& text) {
  std::string out = "'";
  out += printable(text);
  out += '\'';
  return out;
}

bool in_dimension_range(const json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>() >= 1 && v.get<std::uint64_t>() <= std::uint64_t{kMaxDimension};
  return v.is_number_integer() && v.get<std::int64_t>() >= 1 && v.get<std::int64_t>() <= kMaxDimension;
}

[[noreturn]] void fail(const std::string& origin, const std::string& problem) {
  throw Error(origin + ": " + problem, ErrorCategory::Io);
}

const json& field(const json& j, const std::string& origin, const char* name) {
  const auto it = j.find(name);
  if (it == j.end() || it->is_null()) fail(origin, std::string("missing field '") + name + "'");
  return *it;
}

std::int64_t positive_int(const json& j, const std::string& origin, const char* name) {
  const json& v = field(j, origin, name);
  if (!in_dimension_range(v))
    fail(origin, std::string("field '") + name + "' is " + v.dump() + ", expected a positive integer <= " +
                     std::to_string(kMaxDimension));
  return v.get<std::int64_t>();
}

float positive_float(const json& j, const std::string& origin, const char* name) {
  const json& v = field(j, origin, name);
  // Checked as a double first: converting a value beyond float's range is undefined.
  if (!v.is_number() || !(v.get<double>() > 0.0) || !(v.get<double>() <= double{std::numeric_limits<float>::max()}))
    fail(origin, std::string("field '") + name + "' is " + v.dump() + ", expected a positive number");
  return v.get<float>();
}

// Dropout fields are optional: HF writes them, but they do not change eval-mode results.
float probability(const json& j, const std::string& origin, const char* name) {
  const auto it = j.find(name);
  if (it == j.end() || it->is_null()) return 0.0f;
  if (!it->is_number() || it->get<double>() < 0.0 || it->get<double>() >= 1.0)
    fail(origin, std::string("field '") + name + "' is " + it->dump() + ", expected a probability in [0, 1)");
  return it->get<float>();
}

std::string text_field(const json& j, const std::string& origin, const char* name) {
  const json& v = field(j, origin, name);
  if (!v.is_string()) fail(origin, std::string("field '") + name + "' is " + v.dump() + ", expected a string");
  return v.get<std::string>();
}

GeluKind activation(const json& j, const std::string& origin, const char* name) {
  const std::string act = text_field(j, origin, name);
  if (act == "gelu_new" || act == "gelu_pytorch_tanh") return GeluKind::Tanh;
  if (act == "gelu") return GeluKind::Erf;
  fail(origin, std::string("field '") + name + "' is \"" + printable(act) + "\"; supported: gelu_new, gelu_pytorch_tanh, gelu");
}

// Settings that change the computation in ways Tandem does not implement must hold their default.
void expect_flag(const json& j, const std::string& origin, const char* name, bool want) {
  const auto it = j.find(name);
  if (it == j.end() || it->is_null()) return;
  if (!it->is_boolean() || it->get<bool>() != want)
    fail(origin, std::string("field '") + name + "' is " + it->dump() + "; only " + (want ? "true" : "false") +
                     " is supported");
}

std::string first_architecture(const json& j) {
  const auto it = j.find("architectures");
  if (it == j.end() || !it->is_array() || it->empty() || !(*it)[0].is_string()) return {};
  return (*it)[0].get<std::string>();
}

void check_heads(const ModelConfig& c, const std::string& origin) {
  if (c.hidden % c.heads != 0)
    fail(origin, "the number of heads " + std::to_string(c.heads) + " does not divide the hidden size " +
                     std::to_string(c.hidden));
}

ModelConfig parse_gpt2(const json& j, const std::string& origin) {
  ModelConfig c;
  c.model_type = "gpt2";
  const std::string arch = first_architecture(j);
  if (!arch.empty() && arch != "GPT2LMHeadModel" && arch != "GPT2Model")
    fail(origin, "architecture " + quoted(arch) + " is not supported for gpt2; expected GPT2LMHeadModel or GPT2Model");
  c.architecture = Architecture::Gpt2LMHead;
  c.hidden = positive_int(j, origin, "n_embd");
  c.layers = positive_int(j, origin, "n_layer");
  c.heads = positive_int(j, origin, "n_head");
  c.max_positions = positive_int(j, origin, "n_positions");
  c.vocab = positive_int(j, origin, "vocab_size");
  c.layer_norm_eps = positive_float(j, origin, "layer_norm_epsilon");
  c.activation = activation(j, origin, "activation_function");
  const auto inner = j.find("n_inner");
  c.intermediate = (inner == j.end() || inner->is_null()) ? 4 * c.hidden : positive_int(j, origin, "n_inner");
  c.hidden_dropout = probability(j, origin, "resid_pdrop");
  c.attention_dropout = probability(j, origin, "attn_pdrop");
  expect_flag(j, origin, "scale_attn_weights", true);
  expect_flag(j, origin, "scale_attn_by_inverse_layer_idx", false);
  expect_flag(j, origin, "add_cross_attention", false);
  check_heads(c, origin);
  return c;
}

Architecture bert_architecture(const json& j, const std::string& origin) {
  const std::string arch = first_architecture(j);
  if (arch.empty() || arch == "BertModel") return Architecture::BertEncoder;
  if (arch == "BertForSequenceClassification") return Architecture::BertSequenceClassification;
  if (arch == "BertForMaskedLM") return Architecture::BertMaskedLM;
  fail(origin, "architecture " + quoted(arch) +
                   " is not supported for bert; expected BertModel, BertForSequenceClassification or BertForMaskedLM");
}

// num_labels is not always written: HF derives it from id2label, default 2.
std::int64_t num_labels(const json& j, const std::string& origin) {
  if (j.contains("num_labels") && !j["num_labels"].is_null()) return positive_int(j, origin, "num_labels");
  const auto it = j.find("id2label");
  if (it != j.end() && it->is_object() && !it->empty()) return static_cast<std::int64_t>(it->size());
  return 2;
}

ModelConfig parse_bert(const json& j, const std::string& origin) {
  ModelConfig c;
  c.model_type = "bert";
  c.architecture = bert_architecture(j, origin);
  c.hidden = positive_int(j, origin, "hidden_size");
  c.layers = positive_int(j, origin, "num_hidden_layers");
  c.heads = positive_int(j, origin, "num_attention_heads");
  c.intermediate = positive_int(j, origin, "intermediate_size");
  c.max_positions = positive_int(j, origin, "max_position_embeddings");
  c.type_vocab = positive_int(j, origin, "type_vocab_size");
  c.vocab = positive_int(j, origin, "vocab_size");
  c.layer_norm_eps = positive_float(j, origin, "layer_norm_eps");
  c.activation = activation(j, origin, "hidden_act");
  c.hidden_dropout = probability(j, origin, "hidden_dropout_prob");
  c.attention_dropout = probability(j, origin, "attention_probs_dropout_prob");
  if (c.architecture == Architecture::BertSequenceClassification) {
    c.num_labels = num_labels(j, origin);
    if (c.num_labels < 2)
      fail(origin, "num_labels is " + std::to_string(c.num_labels) + "; regression (1 label) is not supported");
    const auto pt = j.find("problem_type");
    if (pt != j.end() && !pt->is_null() && *pt != "single_label_classification")
      fail(origin, "problem_type " + pt->dump() + " is not supported; expected single_label_classification");
  }
  const auto pos = j.find("position_embedding_type");
  if (pos != j.end() && !pos->is_null() && *pos != "absolute")
    fail(origin, "position_embedding_type " + pos->dump() + " is not supported; expected \"absolute\"");
  expect_flag(j, origin, "is_decoder", false);
  expect_flag(j, origin, "add_cross_attention", false);
  check_heads(c, origin);
  return c;
}

}  // namespace

bool is_bert(const ModelConfig& config) noexcept { return config.model_type == "bert"; }

const char* architecture_name(Architecture architecture) noexcept {
  switch (architecture) {
    case Architecture::Gpt2LMHead: return "GPT2LMHeadModel";
    case Architecture::BertEncoder: return "BertModel";
    case Architecture::BertSequenceClassification: return "BertForSequenceClassification";
    case Architecture::BertMaskedLM: return "BertForMaskedLM";
  }
  return "unknown";
}

ModelConfig parse_config(const std::string& text, const std::string& origin) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail(origin, "not valid JSON");
  if (!j.is_object()) fail(origin, "expected a JSON object at the top level");
  const std::string type = text_field(j, origin, "model_type");
  ModelConfig c;
  if (type == "gpt2") c = parse_gpt2(j, origin);
  else if (type == "bert") c = parse_bert(j, origin);
  else fail(origin, "model_type " + quoted(type) + " is not supported; expected 'gpt2' or 'bert'");
  c.json = text;
  return c;
}

ModelConfig load_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(file.string(), "cannot open for reading");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail(file.string(), "read failed");
  return parse_config(text.str(), file.string());
}

}  // namespace tandem::models
