// `tandem eval` and `tandem forward` as a user runs them, against the Hugging Face values that
// tests/fixtures/make_reference.py wrote (cli_reference.json, forward_reference.safetensors), and
// malformed inputs: each must end the program with status 1 and one line naming file and problem.
//
// Bounds, as in tests/models/test_parity.cpp: losses within 1e-5 absolute (they are O(1)),
// logits within 1e-4 · max |ref|, gradients within 1e-5 · max |ref| of each parameter.

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
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

constexpr double kLossBound = 1e-5;
constexpr double kLogitsBound = 1e-4;
constexpr double kGradBound = 1e-5;

fs::path models_dir() { return fs::path(TANDEM_FIXTURES) / "models"; }
fs::path gpt2() { return models_dir() / "gpt2-tiny"; }
fs::path bert_cls() { return models_dir() / "bert-tiny-cls"; }
fs::path bad(const std::string& name) { return fs::path(TANDEM_BAD_INPUTS) / name; }

nlohmann::json expected(const std::string& model, const std::string& data) {
  std::ifstream in(models_dir() / "cli_reference.json");
  return nlohmann::json::parse(in).at(model).at(data);
}

// "--model M --data D" for the shared options of both commands.
std::string model_data(const fs::path& model, const fs::path& data) {
  return "--model " + quote(model) + " --data " + quote(data);
}

// max |a - b| over two tensors of the same shape, and max |b|.
struct Diff {
  double max_abs = 0, ref_scale = 0;
};

Diff compare(const Tensor& got, const Tensor& ref) {
  EXPECT_EQ(got.shape().str(), ref.shape().str());
  Diff d;
  if (got.shape().str() != ref.shape().str()) return d;
  const Tensor g = got.contiguous(), r = ref.contiguous();
  for (std::int64_t i = 0; i < g.numel(); ++i) {
    d.max_abs = std::max(d.max_abs, std::abs(double(g.data<float>()[i]) - double(r.data<float>()[i])));
    d.ref_scale = std::max(d.ref_scale, std::abs(double(r.data<float>()[i])));
  }
  return d;
}

// The program failed cleanly: status 1, no signal, nothing on stdout, and stderr is exactly one
// line "tandem: ..." that contains @p file and @p problem.
void expect_one_line_error(const CliResult& r, const std::string& file, const std::string& problem) {
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_FALSE(r.signalled);
  EXPECT_TRUE(r.err.starts_with("tandem: ")) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_TRUE(r.err.ends_with("\n")) << r.err;
  EXPECT_NE(r.err.find(file), std::string::npos) << "no '" << file << "' in: " << r.err;
  EXPECT_NE(r.err.find(problem), std::string::npos) << "no '" << problem << "' in: " << r.err;
}

nlohmann::json eval_json(const std::string& args) {
  const CliResult r = run_cli("eval " + args + " --json");
  EXPECT_EQ(r.status, 0) << r.err;
  return r.status == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

// ---------------------------------------------------------------------------------------------
// tandem eval

TEST(EvalCommand, Gpt2LossOfOneSequenceIsHuggingFacesLmLoss) {
  const nlohmann::json ref = expected("gpt2-tiny", "eval.ids");
  const nlohmann::json j = eval_json(model_data(gpt2(), gpt2() / "eval.ids"));
  ASSERT_TRUE(j.contains("loss")) << j;
  EXPECT_NEAR(j["loss"].get<double>(), ref["loss"].get<double>(), kLossBound);
  EXPECT_NEAR(j["perplexity"].get<double>() / ref["perplexity"].get<double>(), 1.0, 2 * kLossBound);
  EXPECT_EQ(j["tokens"], ref["tokens"]);
  EXPECT_EQ(j["device"], "cpu");
  EXPECT_EQ(j["model"], gpt2().string());
  EXPECT_EQ(j["data"], (gpt2() / "eval.ids").string());
}

// Sequences of 20, 7 and 45 tokens (45 = windows of 32 and 12 predictions): with two examples per
// batch the batches hold 19+6 and 32+12 predictions, so a mean of batch means would differ.
TEST(EvalCommand, Gpt2LossWeighsEveryTokenEquallyAcrossBatchesAndWindows) {
  const nlohmann::json ref = expected("gpt2-tiny", "eval_multi.ids");
  for (const int batch : {1, 2, 8}) {
    const nlohmann::json j = eval_json(model_data(gpt2(), gpt2() / "eval_multi.ids") + " --batch " + std::to_string(batch));
    ASSERT_TRUE(j.contains("loss")) << j;
    EXPECT_NEAR(j["loss"].get<double>(), ref["loss"].get<double>(), kLossBound) << "batch " << batch;
    EXPECT_EQ(j["tokens"], ref["tokens"]);
  }
}

TEST(EvalCommand, BertClassifierLossAndAccuracyMatchHuggingFace) {
  const nlohmann::json ref = expected("bert-tiny-cls", "eval.jsonl");
  const nlohmann::json j = eval_json(model_data(bert_cls(), bert_cls() / "eval.jsonl") + " --batch 3");
  ASSERT_TRUE(j.contains("loss")) << j;
  EXPECT_NEAR(j["loss"].get<double>(), ref["loss"].get<double>(), kLossBound);
  EXPECT_NEAR(j["accuracy"].get<double>(), ref["accuracy"].get<double>(), 1e-6);
  EXPECT_EQ(j["examples"], ref["examples"]);
  EXPECT_FALSE(j.contains("perplexity"));
}

TEST(EvalCommand, WithoutJsonPrintsOneLine) {
  const CliResult r = run_cli("eval " + model_data(gpt2(), gpt2() / "eval.ids"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_NE(r.out.find("perplexity"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("19 tokens"), std::string::npos) << r.out;
}

TEST(EvalCommand, FpgaPolicyRunsOnTheOpenclDeviceWithTheSameLoss) {
  if (!have_opencl()) GTEST_SKIP() << "no OpenCL device";
  const nlohmann::json ref = expected("gpt2-tiny", "eval_multi.ids");
  const nlohmann::json j =
      eval_json(model_data(gpt2(), gpt2() / "eval_multi.ids") + " --devices cpu,opencl:0 --policy fpga --batch 2");
  ASSERT_TRUE(j.contains("loss")) << j;
  EXPECT_EQ(j["device"], "opencl:0");
  EXPECT_NEAR(j["loss"].get<double>(), ref["loss"].get<double>(), kLossBound);
}

TEST(EvalCommand, UnsupportedPoliciesAndDeviceListsAreOneLineErrors) {
  const std::string base = "eval " + model_data(gpt2(), gpt2() / "eval.ids");
  expect_one_line_error(run_cli(base + " --policy gpu"), "--policy 'gpu'", "supported today are cpu");
  expect_one_line_error(run_cli(base + " --policy fpga --devices cpu"), "--policy fpga", "no OpenCL device");
  expect_one_line_error(run_cli(base + " --devices cpu,reference"), "--devices 'cpu,reference'", "--policy");
  expect_one_line_error(run_cli(base + " --devices tpu"), "tpu", "expected cpu");
}

TEST(EvalCommand, ClassifierOnUnlabelledDataIsAnErrorNamingTheData) {
  const fs::path data = gpt2() / "eval.ids";
  expect_one_line_error(run_cli("eval " + model_data(bert_cls(), data)), data.string(), "needs labels");
}

TEST(EvalCommand, ContextLongerThanTheModelIsAnError) {
  const fs::path data = gpt2() / "eval.ids";
  expect_one_line_error(run_cli("eval " + model_data(gpt2(), data) + " --context 33"), data.string(), "--context 33");
}

// ---------------------------------------------------------------------------------------------
// tandem forward

// forward.ids holds reference.safetensors' two rows of 16 ids: one window of 15 inputs each, whose
// logits are Hugging Face's logits at positions 0..14 (attention is causal).
TEST(ForwardCommand, LogitsMatchTheReference) {
  Scratch dir;
  const fs::path out = dir.path() / "forward.safetensors";
  const CliResult r = run_cli("forward " + model_data(gpt2(), gpt2() / "forward.ids") + " --out " + quote(out));
  ASSERT_EQ(r.status, 0) << r.err;
  const io::SafetensorsReader got(out);
  const io::SafetensorsReader ref(gpt2() / "reference.safetensors");
  const Tensor ref_logits = ref.load("logits").narrow(1, 0, 15);  // (2, 15, 100)
  const Diff d = compare(got.load("logits"), ref_logits);
  EXPECT_LE(d.max_abs, kLogitsBound * d.ref_scale) << "max |diff| " << d.max_abs;
  const io::SafetensorsReader fwd(gpt2() / "forward_reference.safetensors");
  EXPECT_NEAR(got.load("loss").data<float>()[0], fwd.load("loss").data<float>()[0], kLossBound);
  const Tensor ids = got.load_ids("ids");
  const Tensor ref_ids = ref.load("ids").narrow(1, 0, 15).contiguous();
  ASSERT_EQ(ids.shape().str(), ref_ids.shape().str());
  for (std::int64_t i = 0; i < ids.numel(); ++i)
    EXPECT_EQ(ids.data<std::int32_t>()[i], static_cast<std::int32_t>(ref_ids.data<float>()[i])) << i;
  for (const std::string& name : got.names()) EXPECT_FALSE(name.starts_with("grad.")) << name;
}

TEST(ForwardCommand, GradsMatchHuggingFaceForEveryParameter) {
  Scratch dir;
  const fs::path out = dir.path() / "grads.safetensors";
  const CliResult r = run_cli("forward " + model_data(gpt2(), gpt2() / "forward.ids") + " --grads --out " + quote(out));
  ASSERT_EQ(r.status, 0) << r.err;
  const io::SafetensorsReader got(out);
  const io::SafetensorsReader ref(gpt2() / "forward_reference.safetensors");
  std::set<std::string> got_grads, ref_grads;
  for (const std::string& n : got.names())
    if (n.starts_with("grad.")) got_grads.insert(n);
  for (const std::string& n : ref.names())
    if (n.starts_with("grad.")) ref_grads.insert(n);
  EXPECT_EQ(got_grads, ref_grads);
  for (const std::string& name : ref_grads) {
    if (!got.contains(name)) continue;
    const Diff d = compare(got.load(name), ref.load(name));
    EXPECT_LE(d.max_abs, kGradBound * d.ref_scale) << name << ": max |diff| " << d.max_abs << ", max |ref| " << d.ref_scale;
  }
}

TEST(ForwardCommand, OutIntoAMissingDirectoryFailsAndLeavesNothing) {
  Scratch dir;
  const fs::path out = dir.path() / "missing" / "out.safetensors";
  expect_one_line_error(run_cli("forward " + model_data(gpt2(), gpt2() / "eval.ids") + " --out " + quote(out)),
                        out.string(), "does not exist");
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(ForwardCommand, GradsOfAClassifierWithoutLabelsAreAnError) {
  Scratch dir;
  const fs::path data = gpt2() / "eval.ids";
  const fs::path out = dir.path() / "out.safetensors";
  expect_one_line_error(run_cli("forward " + model_data(bert_cls(), data) + " --grads --out " + quote(out)),
                        data.string(), "needs labels");
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

// ---------------------------------------------------------------------------------------------
// Malformed inputs

// A safetensors file from raw parts: the 8-byte little-endian header length (@p declared, or the
// header's real length), the header text and @p data bytes.
void write_raw_safetensors(const fs::path& path, const std::string& header, std::size_t data_bytes,
                           std::uint64_t declared = 0) {
  const std::uint64_t n = declared != 0 ? declared : header.size();
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header << std::string(data_bytes, '\0');
}

// A model folder holding gpt2-tiny's valid config.json and the given model.safetensors.
class BadModel : public ::testing::Test {
 protected:
  void SetUp() override { fs::copy_file(gpt2() / "config.json", dir_.path() / "config.json"); }
  [[nodiscard]] fs::path weights() const { return dir_.path() / "model.safetensors"; }
  [[nodiscard]] CliResult eval() const { return run_cli("eval " + model_data(dir_.path(), gpt2() / "eval.ids")); }

 private:
  Scratch dir_;
};

TEST_F(BadModel, TruncatedSafetensors) {
  fs::copy_file(gpt2() / "model.safetensors", weights());
  fs::resize_file(weights(), fs::file_size(weights()) - 1000);
  expect_one_line_error(eval(), weights().string(), "past the end of the data section");
}

TEST_F(BadModel, HeaderLengthPastTheEndOfTheFile) {
  write_raw_safetensors(weights(), R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4, 1u << 20);
  expect_one_line_error(eval(), weights().string(), "header length");
}

TEST_F(BadModel, OverlappingOffsets) {
  write_raw_safetensors(weights(),
                        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                        12);
  expect_one_line_error(eval(), weights().string(), "overlap");
}

TEST_F(BadModel, UnknownDtype) {
  write_raw_safetensors(weights(), R"({"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", 8);
  expect_one_line_error(eval(), weights().string(), "Q7");
}

// A known dtype where a weight must be floating point: the token embedding stored as I32.
TEST_F(BadModel, IntegerDtypeForAWeight) {
  write_raw_safetensors(weights(), R"({"transformer.wte.weight":{"dtype":"I32","shape":[100,64],"data_offsets":[0,25600]}})",
                        25600);
  expect_one_line_error(eval(), weights().string(), "I32");
}

TEST(BadInput, ConfigMissingAField) {
  const fs::path dir = bad("config_missing_field");
  expect_one_line_error(run_cli("eval " + model_data(dir, gpt2() / "eval.ids")), (dir / "config.json").string(), "n_embd");
}

TEST(BadInput, TokenIdOutsideTheVocabulary) {
  const fs::path data = bad("out_of_vocab.ids");
  expect_one_line_error(run_cli("eval " + model_data(gpt2(), data)), data.string() + ":2", "token id 100 out of range");
}

TEST(BadInput, EmptyDataset) {
  const fs::path data = bad("empty.ids");
  expect_one_line_error(run_cli("eval " + model_data(gpt2(), data)), data.string(), "no sequence");
}

TEST(BadInput, MissingModelDirectory) {
  const fs::path dir = bad("no_such_model");
  expect_one_line_error(run_cli("eval " + model_data(dir, gpt2() / "eval.ids")), dir.string(), "does not exist");
  Scratch out;
  expect_one_line_error(run_cli("forward " + model_data(dir, gpt2() / "eval.ids") + " --out " + quote(out.path() / "x.safetensors")),
                        dir.string(), "does not exist");
  EXPECT_TRUE(fs::is_empty(out.path()));
}

TEST(BadInput, TextDataWithoutATokenizerInTheModelDirectory) {
  const fs::path data = bert_cls() / "eval.jsonl";
  expect_one_line_error(run_cli("eval " + model_data(gpt2(), data)), gpt2().string(), "tokenizer");
}

}  // namespace
}  // namespace tandem::test
