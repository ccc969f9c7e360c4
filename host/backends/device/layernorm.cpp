// Layernorm on the kernel backends (OpenCL, XRT): fpga/kernels/layernorm.cl.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "backends/device/device_kernels.hpp"

namespace tandem::device {
namespace {

// Rows per partial-sum block of the dweight/dbias column sums over n rows: ≈ √n, so the
// block sums and the sum of the blocks each add ≈ √n terms. Depends on n only, never on the
// CU count, so the result is the same on every device.
std::int64_t rows_per_block(std::int64_t n) {
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(std::sqrt(static_cast<double>(n)))));
}

}  // namespace

void DeviceKernels::do_layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out,
                                 Tensor& mean, Tensor& rstd) {
  Submission s(*this);
  s.run("layernorm", "layernorm_forward", compute_units(),
        {in(x), in(weight), in(bias), device::out(out), device::out(mean), device::out(rstd), i32(x.shape().rows()),
         i32(x.dim(-1)), f32(eps)});
  s.finish();
}

void DeviceKernels::do_layernorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight,
                                          const Tensor& mean, const Tensor& rstd, Tensor& dx, Tensor& dweight,
                                          Tensor& dbias) {
  const std::int64_t n = dout.shape().rows(), c = dout.dim(-1);
  const std::int64_t r = rows_per_block(n), blocks = (n + r - 1) / r;
  const bool has_w = dweight.defined(), has_b = dbias.defined();
  // (blocks, C) partial column sums, only for the gradients asked for.
  Tensor part_w = has_w ? Tensor::empty({blocks, c}) : Tensor();
  Tensor part_b = has_b ? Tensor::empty({blocks, c}) : Tensor();
  Submission s(*this);
  s.run("layernorm", "layernorm_backward", compute_units(),
        {in(dout), in(x), in(weight), in(mean), in(rstd), inout(dx), out(part_w), out(part_b), i32(n), i32(c), i32(r),
         i32(has_w), i32(has_b)});
  if (has_w || has_b)
    s.run("layernorm", "layernorm_reduce_partials", compute_units(),
          {in(part_w), in(part_b), inout(dweight), inout(dbias), i32(blocks), i32(c), i32(has_w), i32(has_b)});
  s.finish();
}

}  // namespace tandem::device
