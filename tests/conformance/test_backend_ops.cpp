// The conformance test: every op case of host/verify/op_cases.cpp on every device Tandem
// can run ops on (the CPU backend and each OpenCL device), against the reference, with
// guard zones around every output and NaN/Inf checks.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernels.hpp"
#include "verify/op_cases.hpp"
#if TANDEM_HAVE_OPENCL
#include "backends/opencl/opencl_kernels.hpp"
#endif

namespace tandem::test {
namespace {

std::vector<std::string> device_names() {
  std::vector<std::string> names = {"cpu"};
#if TANDEM_HAVE_OPENCL
  for (const opencl::DeviceInfo& d : opencl::list_devices())
    if (!d.fpga) names.push_back("opencl:" + std::to_string(d.index));  // cards need a bitstream
#endif
  return names;
}

// One backend object per device for the whole process: OpenCL contexts and programs are
// expensive to make.
OpKernels& device(const std::string& name) {
  if (name == "cpu") return cpu_kernels();
#if TANDEM_HAVE_OPENCL
  static std::map<std::string, std::unique_ptr<opencl::OpenclKernels>> devices;
  auto& d = devices[name];
  if (!d) {
    opencl::OpenclOptions options;
    options.device = name;
    d = std::make_unique<opencl::OpenclKernels>(options);
  }
  return *d;
#else
  throw Error("no such device: " + name);
#endif
}

struct Param {
  std::string device;
  std::size_t index;  // into default_cases()
  std::string name;
};

const std::vector<verify::OpCase>& cases() {
  static const std::vector<verify::OpCase> c = verify::default_cases();
  return c;
}

std::vector<Param> params() {
  std::vector<Param> out;
  std::map<std::string, int> seen;
  for (const std::string& dev : device_names())
    for (std::size_t i = 0; i < cases().size(); ++i) {
      std::string name = dev + "_" + cases()[i].op;
      const int n = seen[name]++;
      name.append(1, '_').append(std::to_string(n));
      for (char& ch : name)
        if (ch == ':') ch = '_';
      out.push_back({dev, i, name});
    }
  return out;
}

class BackendOps : public ::testing::TestWithParam<Param> {};

TEST_P(BackendOps, MatchesReference) {
  const verify::OpCase& c = cases()[GetParam().index];
  const verify::CaseResult r = verify::run_case(c, device(GetParam().device), 0);
  EXPECT_TRUE(r.pass) << GetParam().device << " " << c.op << " " << c.shape << ": " << r.failure;
}

INSTANTIATE_TEST_SUITE_P(AllDevices, BackendOps, ::testing::ValuesIn(params()),
                         [](const ::testing::TestParamInfo<Param>& p) { return p.param.name; });

// CI installs PoCL: a build with the OpenCL backend that finds no device there would
// silently test only the CPU, so run.sh asks for a device explicitly.
TEST(BackendOps, RequiredOpenclDeviceIsPresent) {
  if (std::getenv("TANDEM_REQUIRE_OPENCL_DEVICE") == nullptr) GTEST_SKIP() << "TANDEM_REQUIRE_OPENCL_DEVICE not set";
  EXPECT_GE(device_names().size(), 2u) << "no OpenCL emulation device found";
}

}  // namespace
}  // namespace tandem::test
