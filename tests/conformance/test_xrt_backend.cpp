// The XRT backend without a card (this machine): discovery reports no device and says why,
// opening xrt:0 fails quickly as a Device error, and malformed specs are the caller's error.
// The launch path itself needs a card and is not exercised here.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "backends/registry.hpp"
#include "backends/xrt/devices.hpp"
#include "tandem/error.hpp"

namespace tandem::test {
namespace {

struct Failure {
  bool thrown = false;
  ErrorCategory category = ErrorCategory::Internal;
  std::string message;
};

Failure open_failure(const std::string& spec) {
  try {
    open_backend(spec);
  } catch (const Error& e) {
    return {true, e.category(), e.what()};
  }
  return {};
}

bool have_card() { return !xrt::discover().devices.empty(); }

TEST(XrtDevices, WithoutACardDiscoveryIsEmptyAndSaysWhy) {
  xrt::Discovery found;
  EXPECT_NO_THROW(found = xrt::discover());
  if (!found.devices.empty()) GTEST_SKIP() << "an XRT card is present";
  EXPECT_FALSE(found.note.empty());
  EXPECT_NE(found.note.find("no Xilinx card is present"), std::string::npos) << found.note;
  EXPECT_EQ(found.note.find('\n'), std::string::npos) << "the note is one line: " << found.note;
}

TEST(XrtDevices, OpeningAMissingCardIsAQuickDeviceError) {
  if (have_card()) GTEST_SKIP() << "an XRT card is present";
  const auto start = std::chrono::steady_clock::now();
  const Failure f = open_failure("xrt:0");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(f.thrown);
  EXPECT_EQ(f.category, ErrorCategory::Device) << f.message;
  EXPECT_EQ(f.message.rfind("xrt:0: ", 0), 0u) << f.message;
  EXPECT_NE(f.message.find("no Xilinx card"), std::string::npos) << f.message;
  EXPECT_LT(elapsed, std::chrono::seconds(1));
  EXPECT_EQ(open_failure("xrt").category, ErrorCategory::Device);
}

TEST(XrtDevices, MalformedSpecsAreInvalidArguments) {
  for (const std::string spec : {"xrt:x", "xrt:-1", "xrt:", "xrt:1a"}) {
    const Failure f = open_failure(spec);
    ASSERT_TRUE(f.thrown) << spec;
    EXPECT_EQ(f.category, ErrorCategory::InvalidArgument) << spec << ": " << f.message;
    EXPECT_NE(f.message.find(spec), std::string::npos) << f.message;
  }
  EXPECT_EQ(xrt::parse_device_spec("xrt"), 0);
  EXPECT_EQ(xrt::parse_device_spec("xrt:3"), 3);
}

TEST(XrtDevices, CardNamesComeFromTheShellVbnv) {
  EXPECT_EQ(xrt::card_name("xilinx_u280_gen3x16_xdma_base_1"), "u280");
  EXPECT_EQ(xrt::card_name("xilinx_u55c_gen3x16_xdma_base_3"), "u55c");
  EXPECT_EQ(xrt::card_name("custom_board"), "custom_board");
}

}  // namespace
}  // namespace tandem::test
