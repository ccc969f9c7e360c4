// Injected device faults (core/faults.hpp) on the shared launch layer of the kernel backends,
// shown on the first OpenCL device (PoCL here): a failing launch, transfer or allocation is a
// Device error naming the kernel, and the backend's next op still runs and is right.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backends/opencl/opencl_kernels.hpp"
#include "core/faults.hpp"
#include "tandem/error.hpp"

namespace tandem::test {
namespace {

using faults::Point;

bool have_device() { return !opencl::list_devices().empty(); }

opencl::OpenclKernels& backend() {
  static opencl::OpenclKernels k([] {
    opencl::OpenclOptions o;
    o.cache_dir.clear();
    return o;
  }());
  return k;
}

// out = a + b on the device; a and b chosen so that every element of the sum is known by hand.
std::vector<float> residual(const std::vector<float>& a, const std::vector<float>& b) {
  const auto n = static_cast<std::int64_t>(a.size());
  Tensor ta = Tensor::from(a, {n}), tb = Tensor::from(b, {n});
  Tensor out = Tensor::zeros({n});
  backend().residual_add(ta, tb, out);
  const float* o = out.data<float>();
  return {o, o + n};
}

// Arms @p point so that its @p ahead-th next event fails (set_schedule restarts the count),
// and disarms it when the test ends.
class Armed {
 public:
  Armed(Point point, std::int64_t ahead) : point_(point) { faults::set_schedule(point, std::to_string(ahead)); }
  ~Armed() { faults::set_schedule(point_, ""); }
  Armed(const Armed&) = delete;
  Armed& operator=(const Armed&) = delete;

 private:
  Point point_;
};

struct Failure {
  ErrorCategory category = ErrorCategory::Internal;
  std::string message;
};

Failure residual_failure() {
  try {
    residual({1, 2, 3}, {10, 20, 30});
  } catch (const Error& e) {
    return {e.category(), e.what()};
  }
  return {ErrorCategory::Internal, "no error"};
}

// The op after a failed one: 0.5 + k and 2k + 0.25 sum to 3k + 0.75, exact in binary floats.
void expect_next_op_right() {
  std::vector<float> a, b;
  for (int k = 0; k < 100; ++k) {
    a.push_back(0.5f + float(k));
    b.push_back(2.0f * float(k) + 0.25f);
  }
  const std::vector<float> out = residual(a, b);
  ASSERT_EQ(out.size(), a.size());
  for (std::size_t k = 0; k < out.size(); ++k) EXPECT_EQ(out[k], 3.0f * float(k) + 0.75f) << "element " << k;
}

TEST(DeviceFaults, FailedLaunchIsADeviceErrorNamingTheKernel) {
  if (!have_device()) GTEST_SKIP() << "no OpenCL device";
  backend();
  {
    Armed armed(Point::Launch, 1);
    const Failure f = residual_failure();
    EXPECT_EQ(f.category, ErrorCategory::Device) << f.message;
    EXPECT_NE(f.message.find("residual_add"), std::string::npos) << f.message;
    EXPECT_NE(f.message.find("injected fault (launch"), std::string::npos) << f.message;
  }
  expect_next_op_right();
}

TEST(DeviceFaults, FailedHostToDeviceTransferIsADeviceErrorNamingTheKernel) {
  if (!have_device()) GTEST_SKIP() << "no OpenCL device";
  backend();
  {
    Armed armed(Point::Transfer, 2);  // b, the second input copied to the device
    const Failure f = residual_failure();
    EXPECT_EQ(f.category, ErrorCategory::Device) << f.message;
    EXPECT_NE(f.message.find("residual_add argument 1"), std::string::npos) << f.message;
    EXPECT_NE(f.message.find("injected fault (transfer"), std::string::npos) << f.message;
  }
  expect_next_op_right();
}

TEST(DeviceFaults, FailedDeviceToHostTransferIsADeviceErrorNamingTheKernel) {
  if (!have_device()) GTEST_SKIP() << "no OpenCL device";
  backend();
  {
    Armed armed(Point::Transfer, 3);  // a and b go in, then out comes back
    const Failure f = residual_failure();
    EXPECT_EQ(f.category, ErrorCategory::Device) << f.message;
    EXPECT_NE(f.message.find("residual_add result"), std::string::npos) << f.message;
  }
  expect_next_op_right();
}

TEST(DeviceFaults, FailedAllocationIsADeviceErrorNamingTheKernel) {
  if (!have_device()) GTEST_SKIP() << "no OpenCL device";
  backend();
  {
    Armed armed(Point::Allocation, 3);  // out, the third buffer of the op
    const Failure f = residual_failure();
    EXPECT_EQ(f.category, ErrorCategory::Device) << f.message;
    EXPECT_NE(f.message.find("residual_add argument 2"), std::string::npos) << f.message;
    EXPECT_NE(f.message.find("injected fault (allocation"), std::string::npos) << f.message;
  }
  expect_next_op_right();
}

TEST(DeviceFaults, EachLaunchCountsOneLaunchEvent) {
  if (!have_device()) GTEST_SKIP() << "no OpenCL device";
  backend();
  const std::int64_t launches = faults::count(Point::Launch);
  const std::int64_t allocations = faults::count(Point::Allocation);
  const std::int64_t transfers = faults::count(Point::Transfer);
  residual({1}, {2});
  EXPECT_EQ(faults::count(Point::Launch), launches + 1);
  EXPECT_EQ(faults::count(Point::Allocation), allocations + 3);  // a, b, out
  EXPECT_EQ(faults::count(Point::Transfer), transfers + 3);      // a and b in, out back
}

}  // namespace
}  // namespace tandem::test
