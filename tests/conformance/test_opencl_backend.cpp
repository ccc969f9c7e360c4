// The OpenCL backend's machinery: device specs, status errors, the program cache, kernel
// build errors from an edited kernel directory, and the FPGA bitstream lookup.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

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
  TempDir bitstreams;
  opencl::DeviceInfo card;
  card.index = 1;
  card.name = "xilinx_u250_gen3x16_xdma_shell_4_1";
  card.fpga = true;
  const std::string manifest = (bitstreams.path() / card.name / "manifest.json").string();
  EXPECT_EQ(error_of([&] { opencl::fpga_binary(card, bitstreams.path()); }),
            "opencl:1 (" + card.name + ") is an FPGA platform and needs a prebuilt binary: expected " + manifest +
                "; build it for this platform with the Vitis or Intel flow described in fpga/README.md");
  fs::create_directories(bitstreams.path() / card.name);
  std::ofstream(manifest) << R"({"binary": "tandem.xclbin"})";
  EXPECT_NE(error_of([&] { opencl::fpga_binary(card, bitstreams.path()); }).find("tandem.xclbin, which does not exist"),
            std::string::npos);
  std::ofstream(bitstreams.path() / card.name / "tandem.xclbin") << "xclbin2";
  EXPECT_EQ(opencl::fpga_binary(card, bitstreams.path()), bitstreams.path() / card.name / "tandem.xclbin");
  std::ofstream(manifest) << "{ not json";
  EXPECT_EQ(error_of([&] { opencl::fpga_binary(card, bitstreams.path()); }),
            manifest + ": expected a JSON object with a string field \"binary\"");
}

}  // namespace
}  // namespace tandem::test
