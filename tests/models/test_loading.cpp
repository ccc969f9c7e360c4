// Loading Hugging Face checkpoints: config.json parsing, weight-name variants (prefixes, old
// LayerNorm names, ignored buffers), and the errors for missing or mis-shaped tensors and bad
// configs. Expected values are hand-derived or come from the files PyTorch wrote.

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "backends/cpu/cpu_kernels.hpp"
#include "model_fixtures.hpp"
#include "models/config.hpp"
#include "models/model.hpp"
#include "tandem/error.hpp"

namespace tandem::testing {
namespace {

namespace fs = std::filesystem;

// The message of the tandem::Error that @p f throws, after checking its category.
std::string error_of(const std::function<void()>& f, ErrorCategory want = ErrorCategory::Io) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), want) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "multi-line message: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no tandem::Error thrown";
  return {};
}

const char* kGpt2Config = R"({"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 32,
  "vocab_size": 100, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new", "n_inner": null})";

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

TEST(Config, Gpt2FieldsFromHandWrittenJson) {
  const models::ModelConfig c = models::parse_config(kGpt2Config, "config.json");
  EXPECT_EQ(c.model_type, "gpt2");
  EXPECT_EQ(c.architecture, models::Architecture::Gpt2LMHead);
  EXPECT_EQ(c.hidden, 64);
  EXPECT_EQ(c.layers, 2);
  EXPECT_EQ(c.heads, 4);
  EXPECT_EQ(c.intermediate, 256);  // n_inner null -> 4 · n_embd
  EXPECT_EQ(c.max_positions, 32);
  EXPECT_EQ(c.vocab, 100);
  EXPECT_FLOAT_EQ(c.layer_norm_eps, 1e-5f);
  EXPECT_EQ(c.activation, GeluKind::Tanh);
  EXPECT_EQ(c.json, kGpt2Config);
}

TEST(Config, BertHeadsFromArchitectures) {
  const std::string base = R"({"model_type": "bert", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128, "max_position_embeddings": 32, "type_vocab_size": 2,
    "vocab_size": 100, "layer_norm_eps": 1e-12, "hidden_act": "gelu" ARCH})";
  const auto parse = [&](const std::string& arch) { return models::parse_config(replace(base, "ARCH", arch), "c"); };
  const models::ModelConfig encoder = parse("");
  EXPECT_EQ(encoder.architecture, models::Architecture::BertEncoder);
  EXPECT_EQ(encoder.activation, GeluKind::Erf);
  EXPECT_EQ(encoder.type_vocab, 2);
  EXPECT_EQ(parse(R"(, "architectures": ["BertForMaskedLM"])").architecture, models::Architecture::BertMaskedLM);
  const models::ModelConfig cls2 = parse(R"(, "architectures": ["BertForSequenceClassification"])");
  EXPECT_EQ(cls2.architecture, models::Architecture::BertSequenceClassification);
  EXPECT_EQ(cls2.num_labels, 2);  // HF's default
  EXPECT_EQ(parse(R"(, "architectures": ["BertForSequenceClassification"], "id2label": {"0": "a", "1": "b",
    "2": "c", "3": "d"})").num_labels, 4);
  EXPECT_EQ(parse(R"(, "architectures": ["BertForSequenceClassification"], "num_labels": 5)").num_labels, 5);
  EXPECT_NE(error_of([&] { (void)parse(R"(, "architectures": ["BertForTokenClassification"])"); })
                .find("architecture 'BertForTokenClassification' is not supported"),
            std::string::npos);
}

TEST(Config, MissingFieldIsNamed) {
  const std::string text = replace(kGpt2Config, R"("n_embd": 64, )", "");
  EXPECT_EQ(error_of([&] { (void)models::parse_config(text, "dir/config.json"); }),
            "dir/config.json: missing field 'n_embd'");
}

TEST(Config, UnknownModelType) {
  const std::string text = replace(kGpt2Config, R"("gpt2")", R"("llama")");
  EXPECT_EQ(error_of([&] { (void)models::parse_config(text, "c.json"); }),
            "c.json: model_type 'llama' is not supported; expected 'gpt2' or 'bert'");
}

TEST(Config, BadValues) {
  EXPECT_NE(error_of([&] { (void)models::parse_config(replace(kGpt2Config, "gelu_new", "relu"), "c"); })
                .find("field 'activation_function' is \"relu\""),
            std::string::npos);
  EXPECT_NE(error_of([&] { (void)models::parse_config(replace(kGpt2Config, R"("n_head": 4)", R"("n_head": 5)"), "c"); })
                .find("heads 5 does not divide the hidden size 64"),
            std::string::npos);
  EXPECT_NE(error_of([&] { (void)models::parse_config(replace(kGpt2Config, R"("n_layer": 2)", R"("n_layer": -2)"), "c"); })
                .find("field 'n_layer' is -2, expected a positive integer"),
            std::string::npos);
  EXPECT_EQ(error_of([&] { (void)models::parse_config("{\"model_type\": ", "c"); }), "c: not valid JSON");
}

TEST(Config, MissingFileIsAnIoError) {
  const ScratchDir dir("noconfig");
  EXPECT_NE(error_of([&] { (void)models::load_model(dir.path()); }).find("config.json: cannot open"),
            std::string::npos);
}

// Copies a fixture folder's config.json and rewrites its model.safetensors into @p dst: each
// tensor renamed by @p rename (an empty name drops it), then @p extra appended.
void rewrite_fixture(std::string_view fixture, const fs::path& dst,
                     const std::function<std::string(const std::string&)>& rename,
                     std::vector<std::pair<std::string, Tensor>> extra = {}) {
  const fs::path src = fixture_dir(fixture);
  fs::copy_file(src / "config.json", dst / "config.json", fs::copy_options::overwrite_existing);
  const io::SafetensorsReader in(src / "model.safetensors");
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const std::string& name : in.names())
    if (std::string to = rename(name); !to.empty()) tensors.emplace_back(std::move(to), in.load(name));
  for (auto& e : extra) tensors.push_back(std::move(e));
  io::write_safetensors(dst / "model.safetensors", tensors, {{"format", "pt"}});
}

std::string strip(const std::string& name, std::string_view prefix) {
  return name.starts_with(prefix) ? name.substr(prefix.size()) : name;
}

// Logits of @p dir's model on its fixture's reference batch, on the CPU backend.
Tensor logits_of(const fs::path& dir, std::string_view fixture) {
  const auto model = models::load_model(dir);
  const io::SafetensorsReader ref(fixture_dir(fixture) / "reference.safetensors");
  (void)model->forward(reference_batch(ref), cpu_kernels());
  return model->logits().clone();
}

TEST(Loading, MissingTensorIsNamed) {
  const ScratchDir dir("missing");
  rewrite_fixture("gpt2-tiny", dir.path(),
                  [](const std::string& n) { return n == "transformer.h.1.ln_2.bias" ? std::string() : n; });
  EXPECT_EQ(error_of([&] { (void)models::load_model(dir.path()); }),
            (dir.path() / "model.safetensors").string() + ": tensor 'transformer.h.1.ln_2.bias' (64) not found");
}

TEST(Loading, MisShapedTensorIsNamedWithBothShapes) {
  const ScratchDir dir("misshaped");
  rewrite_fixture(
      "gpt2-tiny", dir.path(),
      [](const std::string& n) { return n == "transformer.h.0.attn.c_attn.weight" ? std::string() : n; },
      {{"transformer.h.0.attn.c_attn.weight", Tensor::zeros({192, 64})}});  // nn.Linear's (out, in)
  EXPECT_EQ(error_of([&] { (void)models::load_model(dir.path()); }),
            (dir.path() / "model.safetensors").string() +
                ": tensor 'transformer.h.0.attn.c_attn.weight': expected (64, 192), found (192, 64)");
}

// The original GPT-2 checkpoints have no "transformer." prefix and carry the attention-mask
// buffers and sometimes the tied lm_head.weight: all load to the same model.
TEST(Loading, Gpt2WithAndWithoutPrefix) {
  const ScratchDir dir("noprefix");
  rewrite_fixture("gpt2-tiny", dir.path(), [](const std::string& n) { return strip(n, "transformer."); },
                  {{"h.0.attn.bias", Tensor::zeros({1, 1, 32, 32})},
                   {"h.1.attn.masked_bias", Tensor::zeros({1})},
                   {"lm_head.weight", Tensor::zeros({100, 64})}});
  const Tensor with = logits_of(fixture_dir("gpt2-tiny"), "gpt2-tiny");
  const Tensor without = logits_of(dir.path(), "gpt2-tiny");
  EXPECT_EQ(compare(without, with).max_abs, 0.0);
}

// Old BERT checkpoints: no "bert." prefix on the encoder, LayerNorm gamma/beta.
TEST(Loading, BertWithOldNames) {
  const ScratchDir dir("bertold");
  rewrite_fixture("bert-tiny-cls", dir.path(), [](const std::string& n) {
    std::string s = strip(n, "bert.");
    if (s.ends_with("LayerNorm.weight")) s = s.substr(0, s.size() - 6) + "gamma";
    else if (s.ends_with("LayerNorm.bias")) s = s.substr(0, s.size() - 4) + "beta";
    return s;
  });
  const Tensor with = logits_of(fixture_dir("bert-tiny-cls"), "bert-tiny-cls");
  const Tensor old = logits_of(dir.path(), "bert-tiny-cls");
  EXPECT_EQ(compare(old, with).max_abs, 0.0);
}

// save_model writes the names Hugging Face wrote (read from PyTorch's own file) and the same values.
TEST(Loading, SaveWritesHuggingFaceNames) {
  for (const char* fixture : {"gpt2-tiny", "bert-tiny-cls", "bert-tiny-mlm"}) {
    SCOPED_TRACE(fixture);
    const ScratchDir dir("save");
    const auto model = models::load_model(fixture_dir(fixture));
    models::save_model(*model, dir.path() / "out");
    const io::SafetensorsReader hf(fixture_dir(fixture) / "model.safetensors");
    const io::SafetensorsReader ours(dir.path() / "out" / "model.safetensors");
    EXPECT_EQ(std::set<std::string>(ours.names().begin(), ours.names().end()),
              std::set<std::string>(hf.names().begin(), hf.names().end()));
    for (const std::string& name : hf.names()) EXPECT_EQ(compare(ours.load(name), hf.load(name)).max_abs, 0.0) << name;
    EXPECT_EQ(compare(logits_of(dir.path() / "out", fixture), logits_of(fixture_dir(fixture), fixture)).max_abs, 0.0);
  }
}

TEST(Loading, DecayFlagsFollowTheAdamWRule) {
  const auto model = models::load_model(fixture_dir("bert-tiny-mlm"));
  for (const models::Parameter& p : model->parameters())
    EXPECT_EQ(p.decay, p.value.rank() >= 2) << p.name;  // biases and LayerNorm are rank 1
}

TEST(Loading, BackwardWithoutTargetsIsAnError) {
  const auto model = models::load_model(fixture_dir("gpt2-tiny"));
  const io::SafetensorsReader ref(fixture_dir("gpt2-tiny") / "reference.safetensors");
  data::Batch batch = reference_batch(ref);
  batch.targets = Tensor();
  EXPECT_EQ(model->forward(batch, cpu_kernels()), 0.0f);
  EXPECT_EQ(model->logits().shape(), (Shape{2, 16, 100}));
  (void)error_of([&] { model->backward(cpu_kernels()); }, ErrorCategory::InvalidArgument);
}

}  // namespace
}  // namespace tandem::testing
