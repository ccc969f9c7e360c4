// Softmax on the kernel backends (OpenCL, XRT): fpga/kernels/softmax.cl.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "backends/device/device_kernels.hpp"

namespace tandem::device {

namespace {

// One CU per row at most: a CU with no row would only cost a launch.
std::size_t row_groups(std::int64_t rows, std::uint32_t compute_units) {
  return static_cast<std::size_t>(std::clamp<std::int64_t>(rows, 1, std::max<std::int64_t>(compute_units, 1)));
}

}  // namespace

void DeviceKernels::do_softmax(const Tensor& x, Tensor& out) {
  const std::int64_t rows = x.shape().rows(), cols = x.dim(-1);
  Submission s(*this);
  s.run("softmax", "softmax_forward", row_groups(rows, compute_units()),
        {in(x), device::out(out), i32(rows), i32(cols)});
  s.finish();
}

void DeviceKernels::do_softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  const std::int64_t rows = y.shape().rows(), cols = y.dim(-1);
  Submission s(*this);
  s.run("softmax", "softmax_backward", row_groups(rows, compute_units()),
        {in(y), in(dy), inout(dx), i32(rows), i32(cols)});
  s.finish();
}

}  // namespace tandem::device
