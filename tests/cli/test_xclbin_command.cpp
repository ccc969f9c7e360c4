// `tandem xclbin info` on xclbin files written by tests/bitstream's writer
// (tests/bad_inputs/xclbin/README.md says what each holds), and `tandem step --fpga-model u55c`
// labelling its predicted times as modeled.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "cli_runner.hpp"

namespace tandem::test {
namespace {

const std::string kXclbins = std::string(TANDEM_BAD_INPUTS) + "/xclbin/";

TEST(XclbinCommand, InfoPrintsKernelsArgumentsBanksMemoryAndClocks) {
  const CliResult r = run_cli("xclbin info " + quote(kXclbins + "u280_sample.xclbin") + " --reader own");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  for (const char* line : {
           "(read by Tandem's reader)",
           "platform  xilinx_u280_gen3x16_xdma_1_202211_1\n",
           "uuid      01234567-89ab-cdef-fedc-ba9876543210\n",
           "  gemm (2 compute units: gemm_1 @0x1800000 gemm_2 @0x1810000)\n",
           "    0 a : global float*  gemm_1=HBM[0]  gemm_2=HBM[3]\n",
           "    4 alpha : scalar float\n",
           "    0 x : global float*  gelu_tanh_1=HBM[6],HBM[7]\n",
           "    2 out : global float*  residual_add_1=DDR[0]\n",
           "memory (10)\n",
           "  DDR[1]  DDR4  16384 MB  unused  base 0x4400000000\n",
           "  KERNEL_CLK  500 MHz  kernel\n"})
    EXPECT_NE(r.out.find(line), std::string::npos) << "missing: " << line << "\n" << r.out;
}

TEST(XclbinCommand, JsonFromBothReaders) {
  for (const std::string reader : {"own", "default"}) {
    SCOPED_TRACE(reader);
    const CliResult r =
        run_cli("xclbin info " + quote(kXclbins + "u280_sample.xclbin") + " --json" + (reader == "own" ? " --reader own" : ""));
    ASSERT_EQ(r.status, 0) << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["platform"], "xilinx_u280_gen3x16_xdma_1_202211_1");
    EXPECT_EQ(j["uuid"], "01234567-89ab-cdef-fedc-ba9876543210");
    ASSERT_EQ(j["kernels"].size(), 3u);
    const nlohmann::json& gemm = j["kernels"][1];
    EXPECT_EQ(gemm["name"], "gemm");
    EXPECT_EQ(gemm["args"].size(), 5u);
    EXPECT_EQ(gemm["args"][2]["name"], "c");
    ASSERT_EQ(gemm["compute_units"].size(), 2u);
    EXPECT_EQ(gemm["compute_units"][1]["name"], "gemm:gemm_2");
    EXPECT_EQ(gemm["compute_units"][1]["banks"]["b"], nlohmann::json::array({"HBM[4]"}));
    EXPECT_EQ(j["kernels"][0]["compute_units"][0]["banks"]["x"], nlohmann::json::array({"HBM[6]", "HBM[7]"}));
    EXPECT_EQ(j["memories"].size(), 10u);
    EXPECT_EQ(j["memories"][9]["used"], false);
    EXPECT_EQ(j["clocks"][1], (nlohmann::json{{"name", "KERNEL_CLK"}, {"mhz", 500}, {"type", "kernel"}}));
  }
}

TEST(XclbinCommand, CorruptFilesFailWithOneLineNamingTheFile) {
  for (const std::string name : {"truncated.xclbin", "section_out_of_range.xclbin", "missing.xclbin"}) {
    for (const std::string reader : {" --reader own", ""}) {
      const std::string file = kXclbins + name;
      const CliResult r = run_cli("xclbin info " + quote(file) + reader);
      EXPECT_EQ(r.status, 1) << name << reader;
      EXPECT_FALSE(r.signalled);
      EXPECT_TRUE(r.out.empty()) << r.out;
      EXPECT_EQ(r.err.rfind("tandem: " + file + ": ", 0), 0u) << r.err;
      EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;  // one line
    }
  }
  EXPECT_NE(run_cli("xclbin info " + quote(kXclbins + "truncated.xclbin")).err.find(": xclbin: truncated: the header gives a length of 6504 bytes, the file has 700"),
            std::string::npos);
}

TEST(XclbinCommand, UsageErrors) {
  EXPECT_NE(run_cli("xclbin").status, 0);
  EXPECT_NE(run_cli("xclbin info " + quote(kXclbins + "u250_small.xclbin") + " --reader both").status, 0);
}

// Planning for a U55C while the kernels run on PoCL: after the first step (a calibration run on
// the CPU, which has no history here), the plan's predicted times carry the modeled mark.
TEST(StepCommandFpgaModel, U55cPlanIsLabelledModeled) {
  if (!have_opencl()) GTEST_SKIP() << "no OpenCL device";
  const std::string model = std::string(TANDEM_FIXTURES) + "/models/gpt2-tiny";
  const CliResult r = run_cli("step --model " + model + " --data " + model +
                              "/eval_multi.ids --batch 2 --context 16 --no-history --devices cpu,opencl:0 --policy heft --steps 2 "
                              "--fpga-model u55c --bitstream-dir " + quote(std::string(TANDEM_FIXTURES) + "/../../bitstreams") + " --explain");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("(* modeled: analytical FPGA model)"), std::string::npos) << r.out;
  // The step summary carries the plan's prediction, labelled as modeled for the card.
  EXPECT_NE(r.out.find(" ms on u55c (modeled:"), std::string::npos) << r.out;
  const CliResult bad = run_cli("step --model " + model + " --data " + model +
                                "/eval_multi.ids --batch 2 --context 16 --no-history --devices cpu,opencl:0 --fpga-model u9 "
                                "--bitstream-dir " + quote(std::string(TANDEM_FIXTURES) + "/../../bitstreams"));
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("u9/manifest.json: cannot open the bitstream manifest"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace tandem::test
