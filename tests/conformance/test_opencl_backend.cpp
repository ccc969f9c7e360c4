// The OpenCL backend's machinery: device specs, status errors, the program cache, kernel
// build errors from an edited kernel directory, and the FPGA bitstream lookup through the
// card's manifest.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "backends/opencl/cl_status.hpp"
#include "backends/opencl/opencl_kernels.hpp"
#include "tandem/error.hpp"

namespace tandem::test {
namespace {

namespace fs = std::filesystem;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

bool have_device() { return !opencl::list_devices().empty(); }

opencl::OpenclOptions options(const fs::path& cache, const fs::path& kernel_dir = {}) {
  opencl::OpenclOptions o;
  o.cache_dir = cache;
  o.kernel_dir = kernel_dir;
  return o;
}

// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("tandem-opencl-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void run_residual(opencl::OpenclKernels& k) {
  Tensor a = Tensor::from(std::vector<float>{1, 2, 3}, {3}), b = Tensor::from(std::vector<float>{4, 5, 6}, {3});
  Tensor out = Tensor::zeros({3});
  k.residual_add(a, b, out);
  EXPECT_EQ(out.data<float>()[2], 9.0f);
}

TEST(OpenclDevices, SpecsNameDevicesByIndex) {
  EXPECT_EQ(opencl::parse_device_spec("opencl"), 0);
  EXPECT_EQ(opencl::parse_device_spec("opencl:0"), 0);
  EXPECT_EQ(opencl::parse_device_spec("opencl:12"), 12);
  for (const char* bad : {"opencl:", "opencl:x", "opencl:-1", "opencl:1x", "cuda", "OpenCL:0"})
    EXPECT_EQ(error_of([&] { opencl::parse_device_spec(bad); }),
              "device '" + std::string(bad) + "': expected 'opencl' or 'opencl:N' with N >= 0");
}

TEST(OpenclDevices, OutOfRangeDeviceSaysHowManyExist) {
  const std::size_t n = opencl::list_devices().size();
  const std::string msg = error_of([] { opencl::find_device("opencl:99"); });
  if (n == 0)
    EXPECT_NE(msg.find("no OpenCL device found"), std::string::npos) << msg;
  else
    EXPECT_EQ(msg, "device 'opencl:99': only " + std::to_string(n) + " OpenCL device(s), numbered from 0");
}

TEST(OpenclDevices, EmulationDeviceIsReported) {
  if (!have_device()) GTEST_SKIP() << "no OpenCL device";
  const opencl::DeviceInfo d = opencl::find_device("opencl");
  EXPECT_FALSE(d.name.empty());
  EXPECT_GT(d.compute_units, 0u);
  EXPECT_GT(d.global_memory, 0u);
  if (d.platform.find("Portable Computing Language") != std::string::npos) {
    EXPECT_TRUE(d.emulation);
    EXPECT_FALSE(d.fpga);
  }
}

TEST(OpenclStatus, ErrorsNameCallSubjectAndStatus) {
  EXPECT_EQ(opencl::status_name(CL_OUT_OF_RESOURCES), "CL_OUT_OF_RESOURCES");
  EXPECT_EQ(opencl::status_name(12345), "unknown status");
  EXPECT_EQ(error_of([] { opencl::check(CL_INVALID_KERNEL_NAME, "clCreateKernel", "gemm_nn"); }),
            "opencl: clCreateKernel(gemm_nn): CL_INVALID_KERNEL_NAME (-46)");
  EXPECT_EQ(error_of([] { opencl::check(CL_SUCCESS, "clFinish"); }), "no error");
}

TEST(OpenclPrograms, SecondRunLoadsFromCacheAndBuildsNothing) {
  if (!have_device()) GTEST_SKIP() << "no OpenCL device";
  TempDir cache;
  {
    opencl::OpenclKernels first(options(cache.path()));
    run_residual(first);
    EXPECT_EQ(first.programs().source_builds(), 1);
    EXPECT_EQ(first.programs().cache_hits(), 0);
  }
  EXPECT_FALSE(fs::is_empty(cache.path()));
  opencl::OpenclKernels second(options(cache.path()));
  run_residual(second);
  EXPECT_EQ(second.programs().source_builds(), 0);
  EXPECT_EQ(second.programs().cache_hits(), 1);
}

TEST(OpenclPrograms, EditedKernelChangesTheCacheKey) {
  if (!have_device()) GTEST_SKIP() << "no OpenCL device";
  TempDir cache, kernels;
  fs::copy_file(fs::path(TANDEM_KERNEL_DIR) / "residual.cl", kernels.path() / "residual.cl");
  {
    opencl::OpenclKernels k(options(cache.path(), kernels.path()));
    run_residual(k);
  }
  std::ofstream(kernels.path() / "residual.cl", std::ios::app) << "\n// an edit\n";
  opencl::OpenclKernels edited(options(cache.path(), kernels.path()));
  run_residual(edited);
  EXPECT_EQ(edited.programs().source_builds(), 1);
}

TEST(OpenclPrograms, BrokenKernelGivesTheCompilerLogAndTheFile) {
  if (!have_device()) GTEST_SKIP() << "no OpenCL device";
  TempDir kernels;
  std::ofstream(kernels.path() / "residual.cl") << "__kernel void residual_add(__global float* x) { x[0] = y; }\n";
  opencl::OpenclKernels k(options({}, kernels.path()));
  const std::string msg = error_of([&] { k.build("residual"); });
  const std::string file = (kernels.path() / "residual.cl").string();
  EXPECT_NE(msg.find("opencl: " + file + ": build failed on "), std::string::npos) << msg;
  EXPECT_NE(msg.find("compiler log:\n"), std::string::npos) << msg;
  EXPECT_NE(msg.find("undeclared identifier 'y'"), std::string::npos) << msg;  // clang's words, from PoCL
}

TEST(OpenclPrograms, MissingKernelFileIsAnErrorNamingIt) {
  if (!have_device()) GTEST_SKIP() << "no OpenCL device";
  TempDir kernels;
  opencl::OpenclKernels k(options({}, kernels.path()));
  EXPECT_EQ(error_of([&] { k.build("gemm"); }), (kernels.path() / "gemm.cl").string() + ": cannot read kernel source");
}

TEST(OpenclPrograms, FpgaPlatformWithoutBitstreamSaysWhatToBuild) {
  if (std::getenv("XCL_EMULATION_MODE") != nullptr) GTEST_SKIP() << "XCL_EMULATION_MODE selects another binary";
  TempDir bitstreams;
  opencl::DeviceInfo card;
  card.index = 1;
  card.name = "xilinx_u250_gen3x16_xdma_shell_4_1";
  card.fpga = true;
  const auto failure = [&] {
    try {
      opencl::fpga_binary(card, bitstreams.path());
    } catch (const Error& e) {
      return std::pair<ErrorCategory, std::string>{e.category(), e.what()};
    }
    return std::pair<ErrorCategory, std::string>{ErrorCategory::Internal, "no error"};
  };
  // No manifest: a Device error naming where it looked and how to build one.
  auto [category, message] = failure();
  EXPECT_EQ(category, ErrorCategory::Device) << message;
  EXPECT_NE(message.find("opencl:1 (" + card.name + ")"), std::string::npos) << message;
  EXPECT_NE(message.find("no manifest under " + bitstreams.path().string()), std::string::npos) << message;
  EXPECT_NE(message.find("make -C fpga"), std::string::npos) << message;

  // The u250 manifest of the source tree (u250 is a word of the platform name), not built yet.
  const fs::path dir = bitstreams.path() / "u250", manifest = dir / "manifest.json";
  fs::create_directories(dir);
  fs::copy_file(fs::path(TANDEM_BITSTREAM_DIR) / "u250" / "manifest.json", manifest);
  std::ifstream in(manifest);
  const std::string hw = nlohmann::json::parse(in)["binaries"]["hw"].get<std::string>();
  std::tie(category, message) = failure();
  EXPECT_EQ(category, ErrorCategory::Device) << message;
  EXPECT_NE(message.find(hw), std::string::npos) << message;

  std::ofstream(dir / hw) << "xclbin2";
  EXPECT_EQ(opencl::fpga_binary(card, bitstreams.path()), dir / hw);

  std::ofstream(manifest) << "{ not json";
  std::tie(category, message) = failure();
  EXPECT_EQ(category, ErrorCategory::Io) << message;
  EXPECT_NE(message.find(manifest.string()), std::string::npos) << message;
}

}  // namespace
}  // namespace tandem::test
