// `tandem step` as a user runs it: a traced fine-tuning step of the 2-layer GPT-2 fixture
// with the FPGA kernels on the emulation device, --explain, and placement errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_runner.hpp"

namespace tandem::test {
namespace {

namespace fs = std::filesystem;

const std::string kModel = std::string(TANDEM_FIXTURES) + "/models/gpt2-tiny";
const std::string kArgs = "step --model " + kModel + " --data " + kModel + "/eval_multi.ids --batch 2 --context 16 --no-history";

struct Span {
  double begin, end;
};

// The complete events of each track of a Chrome trace, by track name.
std::map<std::string, std::vector<Span>> tracks(const nlohmann::json& trace) {
  std::map<int, std::string> names;
  for (const auto& e : trace["traceEvents"])
    if (e["ph"] == "M" && e["name"] == "thread_name") names[e["tid"].get<int>()] = e["args"]["name"];
  std::map<std::string, std::vector<Span>> out;
  for (const auto& e : trace["traceEvents"])
    if (e["ph"] == "X") {
      const double ts = e["ts"].get<double>();
      out[names[e["tid"].get<int>()]].push_back({ts, ts + e["dur"].get<double>()});
    }
  return out;
}

// Under fpga the CPU runs the host work (q/k/v split and join) while the device runs AdamW
// updates whose gradients are already final: short spans, so several steps give several chances
// on a loaded machine.
TEST(StepCommand, FpgaPolicyTraceShowsBothDevicesBusyAtOnce) {
  if (!have_opencl()) GTEST_SKIP() << "no OpenCL device";
  const fs::path trace = fs::temp_directory_path() / ("tandem-step-trace-" + std::to_string(::getpid()) + ".json");
  const CliResult r = run_cli(kArgs + " --devices cpu,opencl:0 --policy fpga --steps 6 --trace " + trace.string());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("step 6"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("opencl:0"), std::string::npos) << r.out;  // the summary
  std::ifstream in(trace);
  const auto t = tracks(nlohmann::json::parse(in));
  fs::remove(trace);
  ASSERT_TRUE(t.contains("cpu") && t.contains("opencl:0"));
  int overlaps = 0;
  for (const Span& c : t.at("cpu"))
    for (const Span& d : t.at("opencl:0")) overlaps += c.begin < d.end && d.begin < c.end;
  EXPECT_GT(overlaps, 0) << "no CPU task ran while the device was busy";
}

TEST(StepCommand, ExplainSaysWhereEveryTaskWentAndWhy) {
  if (!have_opencl()) GTEST_SKIP() << "no OpenCL device";
  const CliResult r = run_cli(kArgs + " --devices cpu,opencl:0 --policy fpga --explain");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* want : {"layer", "phase", "reason", "split_qkv", "host work runs on the cpu", "adamw", "optimizer"})
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
}

TEST(StepCommand, StrictTurnsAFallbackIntoAnError) {
  const fs::path rules = fs::temp_directory_path() / ("tandem-rules-" + std::to_string(::getpid()) + ".txt");
  std::ofstream(rules) << "ops=* -> opencl:3\n";
  const CliResult strict = run_cli(kArgs + " --policy rules:" + rules.string() + " --strict");
  EXPECT_EQ(strict.status, 1);
  EXPECT_EQ(strict.err, "tandem: strict placement: task 0 (embedding, layer -1, forward): rule " + rules.string() +
                            ":1 'ops=* -> opencl:3' names opencl:3, which is not open\n");
  const CliResult lenient = run_cli(kArgs + " --policy rules:" + rules.string());
  EXPECT_EQ(lenient.status, 0) << lenient.err;
  fs::remove(rules);
  const CliResult bad = run_cli(kArgs + " --policy bogus");
  EXPECT_EQ(bad.status, 1);
  EXPECT_EQ(bad.err, "tandem: --policy: unknown policy 'bogus' (cpu, fpga, heft, rules:FILE)\n");
}

TEST(CalibrateCommand, HistoryLetsHeftPlanTheFirstStep) {
  if (!have_opencl()) GTEST_SKIP() << "no OpenCL device";
  const fs::path data_home = fs::temp_directory_path() / ("tandem-xdg-" + std::to_string(::getpid()));
  fs::remove_all(data_home);
  ::setenv("XDG_DATA_HOME", data_home.c_str(), 1);
  const std::string shape = " --model " + kModel + " --data " + kModel + "/eval_multi.ids --batch 2 --context 16";
  const CliResult cal = run_cli("calibrate --devices cpu,opencl:0" + shape);
  ASSERT_EQ(cal.status, 0) << cal.err;
  EXPECT_NE(cal.out.find("ops of one training step timed on 2 devices"), std::string::npos) << cal.out;
  std::size_t files = 0;
  for (const auto& f : fs::recursive_directory_iterator(data_home / "tandem" / "history")) {
    if (!f.is_regular_file()) continue;
    ++files;
    std::ifstream in(f.path());
    const auto h = nlohmann::json::parse(in);
    EXPECT_GT(h.dump().size(), 100u) << f.path();
  }
  EXPECT_EQ(files, 2u);
  // With every op timed, heft plans the first step instead of running a calibration step.
  const CliResult step = run_cli("step --devices cpu,opencl:0 --policy heft" + shape);
  ::unsetenv("XDG_DATA_HOME");
  fs::remove_all(data_home);
  ASSERT_EQ(step.status, 0) << step.err;
  EXPECT_NE(step.out.find("(planned)"), std::string::npos) << step.out;
}

}  // namespace
}  // namespace tandem::test
