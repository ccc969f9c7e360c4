// Bias on the kernel backends (OpenCL, XRT): fpga/kernels/bias.cl.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "backends/device/device_kernels.hpp"

namespace tandem::device {
namespace {

// Rows per partial-sum block of a column sum over n rows: ≈ √n, so that the block sums and
// the sum of the blocks each add ≈ √n terms. Depends on n only, never on the CU count, so
// the result is the same on every device.
std::int64_t rows_per_block(std::int64_t n) {
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(std::sqrt(static_cast<double>(n)))));
}

}  // namespace

void DeviceKernels::do_bias_add(const Tensor& x, const Tensor& bias, Tensor& out) {
  Submission s(*this);
  s.run("bias", "bias_add", compute_units(),
        {in(x), in(bias), device::out(out), i32(x.shape().rows()), i32(x.dim(-1))});
  s.finish();
}

void DeviceKernels::do_bias_backward(const Tensor& dout, Tensor& dbias) {
  const std::int64_t n = dout.shape().rows(), c = dout.dim(-1);
  const std::int64_t r = rows_per_block(n), blocks = (n + r - 1) / r;
  Tensor partial = Tensor::empty({blocks, c});  // (blocks, C)
  Submission s(*this);
  s.run("bias", "bias_column_partials", compute_units(), {in(dout), out(partial), i32(n), i32(c), i32(r)});
  s.run("bias", "bias_reduce_partials", compute_units(), {in(partial), inout(dbias), i32(blocks), i32(c)});
  s.finish();
}

}  // namespace tandem::device
