// The bad-input catalogue (tests/bad_inputs/catalogue.json, README.md there) run through the
// `tandem` program as a user would: each malformed file must end the program with exit status 1
// (a tandem::Error; 2 would be an unexpected exception), no signal, and stderr exactly one line
// "tandem: ..." naming the file and stating the problem the catalogue lists.

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_runner.hpp"

namespace tandem::test {
namespace {

namespace fs = std::filesystem;

struct BadInput {
  std::string file;     // relative to tests/bad_inputs
  std::string run;      // how it is fed to tandem (below)
  std::string problem;  // a phrase the error line must contain
  std::string names;    // the file of the input's folder the error names, when not this one
  std::string known_issue;  // non-empty: not yet rejected cleanly, skipped with this reason
};

// gtest names a failing case by its file rather than by the struct's bytes.
void PrintTo(const BadInput& input, std::ostream* os) { *os << input.file; }

std::vector<BadInput> catalogue() {
  std::ifstream in(fs::path(TANDEM_BAD_INPUTS) / "catalogue.json");
  std::vector<BadInput> all;
  for (const auto& e : nlohmann::json::parse(in))
    all.push_back({e.at("file").get<std::string>(), e.at("run").get<std::string>(), e.at("problem").get<std::string>(),
                   e.value("names", std::string()), e.value("known_issue", std::string())});
  return all;
}

fs::path models() { return fs::path(TANDEM_FIXTURES) / "models"; }
fs::path gpt2() { return models() / "gpt2-tiny"; }
fs::path bert_cls() { return models() / "bert-tiny-cls"; }

// The command line for @p input and the path the error must name. Inputs that are one file of
// a model folder are placed into a scratch folder beside a valid model's other files.
struct Invocation {
  std::string args;
  fs::path names;
};

// @p scratch gets @p model's config.json and model.safetensors (a link), then @p files on top.
void model_folder(const fs::path& scratch, const fs::path& model, const std::vector<fs::path>& files) {
  fs::copy_file(model / "config.json", scratch / "config.json", fs::copy_options::overwrite_existing);
  fs::remove(scratch / "model.safetensors");
  fs::create_symlink(model / "model.safetensors", scratch / "model.safetensors");
  for (const fs::path& f : files) fs::copy_file(f, scratch / f.filename(), fs::copy_options::overwrite_existing);
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) files.push_back(e.path());
  return files;
}

std::string model_data(const fs::path& model, const fs::path& data) {
  return "--model " + quote(model) + " --data " + quote(data);
}

Invocation invocation(const BadInput& input, const fs::path& scratch) {
  const fs::path file = fs::path(TANDEM_BAD_INPUTS) / input.file;
  const fs::path named = input.names.empty() ? file.filename() : fs::path(input.names);
  if (input.run == "weights") {
    model_folder(scratch, gpt2(), {});
    fs::remove(scratch / "model.safetensors");
    fs::copy_file(file, scratch / "model.safetensors");
    return {"eval " + model_data(scratch, gpt2() / "eval.ids"), scratch / "model.safetensors"};
  }
  if (input.run == "config") return {"eval " + model_data(file.parent_path(), gpt2() / "eval.ids"), file};
  if (input.run == "bpe") {
    model_folder(scratch, gpt2(), files_in(file.parent_path()));
    std::ofstream(scratch / "sample.txt") << "Hello world\n";
    return {"eval " + model_data(scratch, scratch / "sample.txt"), scratch / named};
  }
  if (input.run == "wordpiece") {
    model_folder(scratch, bert_cls(), files_in(file.parent_path()));
    return {"eval " + model_data(scratch, bert_cls() / "eval.jsonl"), scratch / named};
  }
  if (input.run == "data") {
    const std::string ext = file.extension().string();
    const fs::path model = ext == ".txt"     ? fs::path(TANDEM_EXAMPLES) / "tiny-gpt2"
                           : ext == ".jsonl" ? bert_cls()
                                             : gpt2();
    return {"eval " + model_data(model, file), file};
  }
  if (input.run == "train_config")
    return {"finetune --config " + quote(file) + " " + model_data(gpt2(), gpt2() / "eval_multi.ids") + " --out " +
                quote(scratch / "run") + " --steps 1 --batch 2 --seq 16",
            file};
  if (input.run == "rules")
    return {"step " + model_data(gpt2(), gpt2() / "eval_multi.ids") + " --policy " + quote("rules:" + file.string()) +
                " --batch 2 --context 16 --steps 1 --no-history",
            file};
  if (input.run == "manifest")
    return {"step " + model_data(gpt2(), gpt2() / "eval_multi.ids") + " --devices cpu,opencl:0 --fpga-model " +
                file.parent_path().filename().string() + " --bitstream-dir " + quote(file.parent_path().parent_path()) +
                " --batch 2 --context 16 --steps 1 --no-history",
            file};
  if (input.run == "xclbin") return {"xclbin info " + quote(file), file};
  ADD_FAILURE() << input.file << ": unknown run kind '" << input.run << "'";
  return {};
}

class BadInputs : public ::testing::TestWithParam<BadInput> {};

TEST_P(BadInputs, EndTheProgramWithOneLineNamingTheFile) {
  const BadInput& input = GetParam();
  if (!input.known_issue.empty()) GTEST_SKIP() << "known issue: " << input.known_issue;
  if (input.run == "manifest" && !have_opencl()) GTEST_SKIP() << "no OpenCL device to plan as the card";
  Scratch scratch;
  const Invocation call = invocation(input, scratch.path());
  ASSERT_FALSE(call.args.empty());
  const CliResult r = run_cli(call.args);
  EXPECT_FALSE(r.signalled) << r.err;
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_TRUE(r.err.starts_with("tandem: ")) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_TRUE(r.err.ends_with("\n")) << r.err;
  EXPECT_NE(r.err.find(call.names.string()), std::string::npos) << "no '" << call.names.string() << "' in: " << r.err;
  EXPECT_NE(r.err.find(input.problem), std::string::npos) << "no '" << input.problem << "' in: " << r.err;
}

// The catalogue covers every format Tandem reads with at least 30 files.
TEST(BadInputCatalogue, HasAtLeastThirtyFilesOverEveryKind) {
  const std::vector<BadInput> all = catalogue();
  EXPECT_GE(all.size(), 30u);
  for (const char* kind : {"weights", "config", "bpe", "wordpiece", "data", "train_config", "rules", "manifest", "xclbin"})
    EXPECT_TRUE(std::any_of(all.begin(), all.end(), [&](const BadInput& b) { return b.run == kind; })) << kind;
}

std::string test_name(const ::testing::TestParamInfo<BadInput>& info) {
  std::string name = info.param.file;
  std::replace_if(name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(Catalogue, BadInputs, ::testing::ValuesIn(catalogue()), test_name);

}  // namespace
}  // namespace tandem::test
