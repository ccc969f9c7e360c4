// `tandem finetune` as a user runs it: the outputs of a run (metrics JSONL, final export,
// SVG plots, device summary), the config file with a flag overriding it, and every error of
// issue 6 item 6 giving one line and a non-zero exit without touching an existing checkpoint.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_runner.hpp"

namespace tandem::test {
namespace {
namespace fs = std::filesystem;

class Finetune : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tandem-finetune-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream corpus(dir_ / "corpus.ids");
    for (int line = 0; line < 24; ++line)
      for (int j = 0; j < 17; ++j) corpus << (line + j) % 40 + 1 << (j < 16 ? ' ' : '\n');
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The common flags of a tiny run on the gpt2-tiny fixture, then @p extra.
  [[nodiscard]] std::string args(const std::string& extra) const {
    return "finetune --model " + model() + " --data " + (dir_ / "corpus.ids").string() + " --out " +
           (dir_ / "out").string() + " --batch 2 --seq 16 --policy cpu --no-history " + extra;
  }
  [[nodiscard]] static std::string model() { return std::string(TANDEM_FIXTURES) + "/models/gpt2-tiny"; }

  static std::vector<nlohmann::json> jsonl(const fs::path& p) {
    std::vector<nlohmann::json> out;
    std::ifstream in(p);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
  }

  fs::path dir_;
};

// One line on stderr, starting with the program's name.
void expect_one_line_error(const CliResult& r, const std::string& needle) {
  EXPECT_NE(r.status, 0);
  EXPECT_FALSE(r.signalled);
  EXPECT_EQ(r.err.rfind("tandem: ", 0), 0u) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "want '" << needle << "' in: " << r.err;
}

TEST_F(Finetune, WritesMetricsExportPlotsAndSummary) {
  const std::string metrics = (dir_ / "m.jsonl").string();
  const std::string eval = model() + "/eval_multi.ids";
  const CliResult r = run_cli(args("--steps 4 --lr 3e-3 --eval-data " + eval + " --eval-every 2 --metrics " + metrics));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<nlohmann::json> lines = jsonl(metrics);
  ASSERT_EQ(lines.size(), 4u);
  for (const char* key : {"step", "loss", "lr", "grad_norm", "tokens_per_s", "eval_loss", "devices"})
    EXPECT_TRUE(lines[0].contains(key)) << key;
  EXPECT_TRUE(lines[0]["eval_loss"].is_null());
  EXPECT_TRUE(lines[1]["eval_loss"].is_number());
  EXPECT_EQ(lines[3]["step"], 4);
  EXPECT_EQ(lines[0]["devices"][0]["device"], "cpu");
  EXPECT_TRUE(fs::exists(dir_ / "out" / "final" / "config.json"));
  EXPECT_TRUE(fs::exists(dir_ / "out" / "final" / "model.safetensors"));
  EXPECT_TRUE(fs::exists(dir_ / "out" / "checkpoint-4" / "trainer_state.json"));
  for (const char* svg : {"loss.svg", "timeline.svg"}) {
    const std::string text = slurp(dir_ / "out" / svg);
    EXPECT_EQ(text.rfind("<svg", 0), 0u) << svg;
    EXPECT_NE(text.find("</svg>"), std::string::npos) << svg;
  }
  EXPECT_NE(slurp(dir_ / "out" / "timeline.svg").find("<rect x="), std::string::npos);
  EXPECT_NE(r.out.find("eval loss"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("busy ms"), std::string::npos) << r.out;  // the per-device summary
}

TEST_F(Finetune, FlagsOverrideTheConfigFile) {
  const fs::path config = dir_ / "run.json";
  std::ofstream(config) << R"({"steps": 5, "lr": 0.002, "decay": "constant", "batch": 4})";
  const std::string metrics = (dir_ / "m.jsonl").string();
  const CliResult r = run_cli(args("--config " + config.string() + " --steps 2 --metrics " + metrics));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<nlohmann::json> lines = jsonl(metrics);
  ASSERT_EQ(lines.size(), 2u);  // --steps 2 beat the file's 5
  EXPECT_DOUBLE_EQ(lines[1]["lr"].get<double>(), 0.002);  // the file's lr and decay stand
  EXPECT_EQ(lines[0]["tokens"], 2 * 16);  // --batch 2 (a flag in args()) beat the file's 4

  std::ofstream(config) << R"({"steps": "many"})";
  expect_one_line_error(run_cli(args("--config " + config.string())), "\"steps\"");
}

TEST_F(Finetune, MissingFilesAreOneLineErrors) {
  expect_one_line_error(run_cli("finetune --model " + (dir_ / "nope").string() + " --data x.ids --out " +
                                (dir_ / "out").string() + " --steps 1"),
                        (dir_ / "nope").string());
  expect_one_line_error(run_cli("finetune --model " + model() + " --data " + (dir_ / "none.ids").string() +
                                " --out " + (dir_ / "out").string() + " --steps 1"),
                        "none.ids");
  expect_one_line_error(run_cli(args("--steps 1 --config " + (dir_ / "none.json").string())), "none.json");
}

TEST_F(Finetune, BadFlagValuesAreOneLineErrors) {
  expect_one_line_error(run_cli(args("--steps 1 --batch 0")), "--batch");
  expect_one_line_error(run_cli(args("--steps 1 --task translate")), "--task");
  expect_one_line_error(run_cli(args("--steps 1 --lr -1")), "--lr");
  expect_one_line_error(run_cli(args("--steps 1 --decay sideways")), "sideways");
  expect_one_line_error(run_cli(args("")), "--steps");
  const CliResult unparsable = run_cli(args("--steps many"));
  EXPECT_NE(unparsable.status, 0);
  EXPECT_NE(unparsable.err.find("--steps"), std::string::npos) << unparsable.err;
}

TEST_F(Finetune, DatasetShorterThanOneBatchIsAnError) {
  expect_one_line_error(run_cli(args("--steps 1 --batch 1000")), "fewer than one batch");
}

TEST_F(Finetune, UnknownDeviceIsAnError) {
  expect_one_line_error(run_cli(args("--steps 1 --devices cpu,tpu")), "tpu");
}

// A learning rate of 1e30 makes step 2's logits overflow: the run stops naming the step and
// the checkpoint of step 1, which stays loadable; --skip-nonfinite carries on instead.
TEST_F(Finetune, NonFiniteLossStopsAndKeepsTheLastCheckpoint) {
  const CliResult r = run_cli(args("--steps 4 --lr 1e30 --clip 0 --save-every 1"));
  expect_one_line_error(r, "step 2");
  EXPECT_NE(r.err.find("checkpoint-1"), std::string::npos) << r.err;
  const fs::path state = dir_ / "out" / "checkpoint-1" / "trainer_state.json";
  ASSERT_TRUE(fs::exists(state));
  EXPECT_EQ(nlohmann::json::parse(slurp(state))["step"], 1);
  EXPECT_FALSE(fs::exists(dir_ / "out" / "checkpoint-2"));

  const std::string metrics = (dir_ / "m.jsonl").string();
  const CliResult skipped = run_cli(args("--steps 3 --lr 1e30 --clip 0 --skip-nonfinite --metrics " + metrics));
  ASSERT_EQ(skipped.status, 0) << skipped.err;
  const std::vector<nlohmann::json> lines = jsonl(metrics);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_FALSE(lines[0]["skipped"].get<bool>());
  EXPECT_TRUE(lines[1]["skipped"].get<bool>());
}

}  // namespace
}  // namespace tandem::test
