#include <Eigen/Core>

#include <algorithm>
#include <vector>

#include "backends/cpu/cpu_kernels.hpp"
#include "backends/cpu/parallel.hpp"

namespace tandem {

namespace {
using Vec = Eigen::Map<Eigen::ArrayXf>;
using ConstVec = Eigen::Map<const Eigen::ArrayXf>;
}  // namespace

void CpuKernels::do_bias_add(const Tensor& x, const Tensor& bias, Tensor& out) {
  const float* px = x.data<float>();
  const float* pb = bias.data<float>();
  float* po = out.data<float>();
  const std::int64_t N = x.shape().rows(), C = x.dim(-1);
  ConstVec b(pb, C);
  cpu::parallel_for(N, cpu::row_grain(C), [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t n = lo; n < hi; ++n) Vec(po + n * C, C) = ConstVec(px + n * C, C) + b;
  });
}

// Column sums in fixed blocks of rows: the block size depends only on C, each block sums
// its rows in order into its own partial, and the partials are added in block order, so
// the result does not depend on the thread count. Partials are kept in double (the loads
// are the cost, not the adds), so long columns lose no accuracy.
void CpuKernels::do_bias_backward(const Tensor& dout, Tensor& dbias) {
  const float* g = dout.data<float>();
  float* pd = dbias.data<float>();
  const std::int64_t N = dout.shape().rows(), C = dout.dim(-1);
  const std::int64_t rows_per_block = cpu::row_grain(C);
  const std::int64_t blocks = (N + rows_per_block - 1) / rows_per_block;
  std::vector<double> partial(static_cast<std::size_t>(blocks * C), 0.0);
  double* part_out = partial.data();
  cpu::parallel_for(blocks, 1, [=](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t blk = b0; blk < b1; ++blk) {
      double* acc = part_out + blk * C;
      const std::int64_t r1 = std::min(N, (blk + 1) * rows_per_block);
      for (std::int64_t n = blk * rows_per_block; n < r1; ++n) {
        const float* row = g + n * C;
        for (std::int64_t c = 0; c < C; ++c) acc[c] += double(row[c]);
      }
    }
  });
  cpu::add_block_partials(partial.data(), blocks, C, pd);
}

}  // namespace tandem
