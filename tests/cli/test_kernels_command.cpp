// `tandem devices` and `tandem kernels test` as a user runs them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "cli_runner.hpp"
#include "verify/op_cases.hpp"

namespace tandem::test {
namespace {

namespace fs = std::filesystem;

TEST(DevicesCommand, JsonListsTheCpuAndOpenclDevices) {
  const CliResult r = run_cli("devices --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["cpu"]["spec"], "cpu");
  EXPECT_GT(j["cpu"]["cores"].get<int>(), 0);
  for (const auto& d : j["opencl"]) {
    EXPECT_TRUE(d["spec"].get<std::string>().starts_with("opencl:"));
    EXPECT_TRUE(d["kind"] == "emulation" || d["kind"] == "fpga" || d["kind"] == "other");
  }
}

TEST(KernelsCommand, AllKernelsPassOnTheFirstOpenclDeviceAndEveryOneIsReported) {
  if (!have_opencl()) GTEST_SKIP() << "no OpenCL device";
  const CliResult r = run_cli("kernels test --all --device opencl --json --repeats 1");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["device"], "opencl:0");
  EXPECT_EQ(j["failed"], 0);
  std::set<std::string> reported, expected;
  for (const auto& row : j["results"]) {
    for (const char* key : {"kernel", "shape", "max_abs_err", "nmse", "pass", "ms"}) EXPECT_TRUE(row.contains(key)) << key;
    reported.insert(row["kernel"].get<std::string>());
  }
  for (const verify::OpCase& c : verify::default_cases()) expected.insert(c.op);
  EXPECT_EQ(reported, expected);
  EXPECT_EQ(j["passed"].get<std::size_t>(), j["results"].size());
}

TEST(KernelsCommand, BrokenKernelInKernelDirShowsTheCompilerLogAndFails) {
  if (!have_opencl()) GTEST_SKIP() << "no OpenCL device";
  const fs::path dir = fs::temp_directory_path() / ("tandem-broken-kernels-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy(TANDEM_KERNEL_DIR, dir, fs::copy_options::recursive);
  std::ofstream(dir / "gemm.cl", std::ios::app) << "\n__kernel void broken(__global float* x) { x[0] = undefined_name; }\n";
  const CliResult r = run_cli("kernels test --kernel matmul --kernel-dir " + dir.string());
  fs::remove_all(dir);
  EXPECT_FALSE(r.signalled);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find((dir / "gemm.cl").string() + ": build failed on"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("undefined_name"), std::string::npos) << r.err;
}

TEST(KernelsCommand, ShapesSelectSizesAndBadOnesAreNamed) {
  const CliResult ok = run_cli("kernels test --device cpu --kernel residual_add --shapes 100,7 --json");
  ASSERT_EQ(ok.status, 0) << ok.err;
  EXPECT_EQ(nlohmann::json::parse(ok.out)["results"].size(), 2u);
  const CliResult bad = run_cli("kernels test --device cpu --kernel matmul --shapes 4x4xq");
  EXPECT_EQ(bad.status, 1);
  EXPECT_EQ(bad.err, "tandem: --shapes: '4x4xq' is not a list of positive sizes like 64x48x80\n");
  const CliResult unknown = run_cli("kernels test --device cpu --kernel nosuchop");
  EXPECT_EQ(unknown.status, 1);
  EXPECT_EQ(unknown.err, "tandem: kernels test: unknown kernel 'nosuchop' (see `tandem kernels list`)\n");
  const CliResult neither = run_cli("kernels test --device cpu");
  EXPECT_EQ(neither.status, 1);
  EXPECT_EQ(neither.err, "tandem: kernels test: give --kernel NAME (repeatable) or --all\n");
}

}  // namespace
}  // namespace tandem::test
