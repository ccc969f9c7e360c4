// `tandem devices` and the xrt:N device specs as a user meets them on a machine without a
// Xilinx card (this one): a clear line, exit 0; an XRT device asked for fails in one line.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_runner.hpp"

namespace tandem::test {
namespace {

std::size_t lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(DevicesCommand, TableHasAnXrtLine) {
  const CliResult r = run_cli("devices");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(r.signalled);
  // Either a card ("xrt:0 ...") or the one line saying why there is none.
  EXPECT_TRUE(r.out.find("xrt:") != std::string::npos) << r.out;
}

TEST(DevicesCommand, JsonHasXrtDevicesOrANote) {
  const CliResult r = run_cli("devices --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("xrt")) << r.out;
  EXPECT_TRUE(j["xrt"].is_array());
  if (j["xrt"].empty()) {
    ASSERT_TRUE(j.contains("xrt_note")) << r.out;
    EXPECT_FALSE(j["xrt_note"].get<std::string>().empty());
  }
  for (const auto& d : j["xrt"]) EXPECT_TRUE(d["spec"].get<std::string>().starts_with("xrt:"));
}

TEST(DevicesCommand, KernelsTestOnAMissingXrtCardFailsInOneLine) {
  const auto j = nlohmann::json::parse(run_cli("devices --json").out);
  if (!j["xrt"].empty()) GTEST_SKIP() << "an XRT card is present";
  const CliResult r = run_cli("kernels test --all --device xrt:0");
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_FALSE(r.signalled);
  EXPECT_EQ(lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("xrt:0"), std::string::npos) << r.err;
#if TANDEM_HAVE_XRT
  EXPECT_NE(r.err.find("no Xilinx card"), std::string::npos) << r.err;
#else
  EXPECT_NE(r.err.find("no XRT backend"), std::string::npos) << r.err;
#endif
}

TEST(DevicesCommand, MalformedXrtSpecIsNamed) {
  const CliResult r = run_cli("kernels test --all --device xrt:x");
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("xrt:x"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tandem::test
