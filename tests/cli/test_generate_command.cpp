// `tandem generate`, `tandem init` and `tandem corpus` as a user runs them.
//
// Greedy generation is compared with transformers' greedy generate on the fixture model of
// tests/fixtures/make_generate_fixtures.py (its top-1 logit margins are >= 1e-2, far above fp32
// rounding, so the ids must match exactly). Sampling and init are checked against facts derived
// by hand: top-k 1 is greedy at any temperature, a seed fixes the output, GPT-2's init gives
// LayerNorm weights 1, zero biases and weights of the configured standard deviation.

#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_runner.hpp"
#include "io/safetensors.hpp"

namespace tandem::test {
namespace {

namespace fs = std::filesystem;

fs::path fixture_model() { return fs::path(TANDEM_FIXTURES) / "generate" / "gpt2-bpe"; }

nlohmann::json expected() {
  std::ifstream in(fs::path(TANDEM_FIXTURES) / "generate" / "expected.json");
  return nlohmann::json::parse(in);
}

// The JSON of `tandem generate --json` with @p args; fails the test on a non-zero exit.
nlohmann::json generate_json(const std::string& args) {
  const CliResult r = run_cli("generate --json " + args);
  EXPECT_EQ(r.status, 0) << r.err;
  if (r.status != 0) return nlohmann::json::object({{"ids", nlohmann::json::array()}});
  return nlohmann::json::parse(r.out);
}

std::string on_fixture(const std::string& prompt, const std::string& rest) {
  return "--model " + quote(fixture_model().string()) + " --prompt " + quote(prompt) + " " + rest;
}

// An error ends the program with status 1 and one line on stderr containing @p needle.
void expect_one_line_error(const std::string& args, const std::string& needle) {
  const CliResult r = run_cli(args);
  EXPECT_EQ(r.status, 1) << args;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
}

TEST(GenerateCommand, GreedyMatchesHuggingFace) {
  const nlohmann::json e = expected();
  for (const nlohmann::json& c : e["cases"]) {
    const std::string prompt = c["prompt"].get<std::string>();
    const nlohmann::json got = generate_json(on_fixture(prompt, "--temperature 0 --tokens " + e["new_tokens"].dump()));
    EXPECT_EQ(got["prompt_ids"], c["prompt_ids"]) << prompt;
    EXPECT_EQ(got["ids"], c["ids"]) << prompt;
  }
}

TEST(GenerateCommand, PrintsPromptFollowedByCompletion) {
  const CliResult r = run_cli("generate " + on_fixture("The quick brown fox", "--temperature 0 --tokens 5"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("The quick brown fox", 0), 0u) << r.out;
}

TEST(GenerateCommand, TopKOneIsGreedyAtAnyTemperature) {
  const nlohmann::json greedy = generate_json(on_fixture("In 2023 the model", "--temperature 0 --tokens 20"));
  const nlohmann::json top1 = generate_json(on_fixture("In 2023 the model", "--temperature 3 --top-k 1 --seed 9 --tokens 20"));
  EXPECT_EQ(top1["ids"], greedy["ids"]);
}

TEST(GenerateCommand, SeedFixesSampledText) {
  const std::string args = "--temperature 1 --top-k 50 --tokens 20 --seed ";
  const nlohmann::json a = generate_json(on_fixture("The quick", args + "7"));
  const nlohmann::json b = generate_json(on_fixture("The quick", args + "7"));
  EXPECT_EQ(a["ids"], b["ids"]);
  std::set<std::string> distinct;
  for (int seed = 1; seed <= 4; ++seed) distinct.insert(generate_json(on_fixture("The quick", args + std::to_string(seed)))["ids"].dump());
  EXPECT_GT(distinct.size(), 1u) << "four seeds gave the same sample";
}

TEST(GenerateCommand, TokensBoundsTheOutput) {
  EXPECT_EQ(generate_json(on_fixture("The quick", "--tokens 3 --temperature 0"))["ids"].size(), 3u);
  const nlohmann::json none = generate_json(on_fixture("The quick", "--tokens 0"));
  EXPECT_TRUE(none["ids"].empty());
  EXPECT_EQ(none["text"], "The quick");
}

TEST(GenerateCommand, Errors) {
  const std::string fixtures = TANDEM_FIXTURES;
  expect_one_line_error("generate --model " + quote(fixtures + "/models/bert-tiny-cls") + " --prompt hi", "GPT2LMHeadModel");
  expect_one_line_error("generate --model " + quote(fixtures + "/models/gpt2-tiny") + " --prompt hi", "no tokenizer files");
  expect_one_line_error("generate --model /nonexistent/model --prompt hi", "does not exist");
  expect_one_line_error("generate " + on_fixture("hi", "--temperature -1"), "--temperature");
  expect_one_line_error("generate " + on_fixture("hi", "--temperature nan"), "--temperature");
  expect_one_line_error("generate " + on_fixture("hi", "--top-k -2"), "--top-k");
  expect_one_line_error("generate " + on_fixture("hi", "--tokens -1"), "--tokens");
  EXPECT_NE(run_cli("generate " + on_fixture("hi", "--temperature warm")).status, 0);
}

// A 1-layer GPT-2 config with the byte tokenizer's vocabulary, written to @p dir.
fs::path write_small_config(const fs::path& dir) {
  const fs::path file = dir / "small.json";
  std::ofstream(file) << R"({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 257,
    "n_positions": 32, "n_embd": 64, "n_layer": 2, "n_head": 4, "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"})";
  return file;
}

double stddev(const Tensor& t) {
  const float* v = t.data<float>();
  double sum = 0, sq = 0;
  for (std::int64_t i = 0; i < t.numel(); ++i) sum += v[i], sq += double{v[i]} * v[i];
  const double n = static_cast<double>(t.numel());
  return std::sqrt(sq / n - (sum / n) * (sum / n));
}

TEST(InitCommand, FollowsGpt2InitAndSeed) {
  Scratch s;
  const fs::path config = write_small_config(s.path());
  const std::string base = "init --byte-tokenizer --config " + quote(config.string()) + " --out ";
  ASSERT_EQ(run_cli(base + quote((s.path() / "a").string()) + " --seed 5").status, 0);
  ASSERT_EQ(run_cli(base + quote((s.path() / "b").string()) + " --seed 5").status, 0);
  ASSERT_EQ(run_cli(base + quote((s.path() / "c").string()) + " --seed 6").status, 0);
  EXPECT_EQ(slurp(s.path() / "a" / "model.safetensors"), slurp(s.path() / "b" / "model.safetensors"));
  EXPECT_NE(slurp(s.path() / "a" / "model.safetensors"), slurp(s.path() / "c" / "model.safetensors"));

  const io::SafetensorsReader w(s.path() / "a" / "model.safetensors");
  // 257·64 and 64·192 draws: the sample std is within a few percent of the target.
  EXPECT_NEAR(stddev(w.load("transformer.wte.weight")), 0.02, 0.001);
  EXPECT_NEAR(stddev(w.load("transformer.h.0.attn.c_attn.weight")), 0.02, 0.001);
  EXPECT_NEAR(stddev(w.load("transformer.h.1.mlp.c_proj.weight")), 0.02 / std::sqrt(4.0), 0.0005);
  const Tensor ln = w.load("transformer.h.0.ln_1.weight");
  const Tensor bias = w.load("transformer.h.0.mlp.c_fc.bias");
  for (std::int64_t i = 0; i < ln.numel(); ++i) EXPECT_EQ(ln.data<float>()[i], 1.0f);
  for (std::int64_t i = 0; i < bias.numel(); ++i) EXPECT_EQ(bias.data<float>()[i], 0.0f);
}

TEST(InitCommand, ByteTokenizerEncodesUtf8Bytes) {
  Scratch s;
  const fs::path config = write_small_config(s.path());
  const fs::path model = s.path() / "m";
  ASSERT_EQ(run_cli("init --byte-tokenizer --config " + quote(config.string()) + " --out " + quote(model.string())).status, 0);
  // "h\xC3\xA9!" is "hé!" in UTF-8: one token per byte, the token id being the byte's value.
  const nlohmann::json got = generate_json("--model " + quote(model.string()) + " --prompt 'h\xC3\xA9!' --tokens 2 --temperature 0");
  EXPECT_EQ(got["prompt_ids"], nlohmann::json::array({104, 0xC3, 0xA9, 33}));
  EXPECT_EQ(got["ids"].size(), 2u);
}

TEST(InitCommand, RejectsTooSmallVocabularyForByteTokenizer) {
  const std::string fixtures = TANDEM_FIXTURES;
  Scratch s;
  expect_one_line_error("init --byte-tokenizer --config " + quote(fixtures + "/models/gpt2-tiny/config.json") + " --out " +
                            quote((s.path() / "m").string()),
                        "vocab_size >= 257");
}

TEST(CorpusCommand, SeededAndDistinctDomains) {
  const CliResult a1 = run_cli("corpus --kind a --paragraphs 20 --seed 3");
  const CliResult a2 = run_cli("corpus --kind a --paragraphs 20 --seed 3");
  const CliResult a3 = run_cli("corpus --kind a --paragraphs 20 --seed 4");
  const CliResult b = run_cli("corpus --kind b --paragraphs 20 --seed 3");
  ASSERT_EQ(a1.status, 0) << a1.err;
  EXPECT_EQ(a1.out, a2.out);
  EXPECT_NE(a1.out, a3.out);
  EXPECT_NE(a1.out, b.out);
  // 20 paragraphs, one per line, separated by 19 blank lines.
  std::size_t lines = 0, blank = 0;
  for (std::size_t pos = 0, end; (end = a1.out.find('\n', pos)) != std::string::npos; pos = end + 1) {
    ++lines;
    if (end == pos) ++blank;
  }
  EXPECT_EQ(lines, 39u);
  EXPECT_EQ(blank, 19u);
  expect_one_line_error("corpus --kind c", "--kind");
}

}  // namespace
}  // namespace tandem::test
