#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/cpu_kernels.hpp"
#include "backends/cpu/parallel.hpp"

namespace tandem {

namespace {
using Vec = Eigen::Map<Eigen::ArrayXf>;
using ConstVec = Eigen::Map<const Eigen::ArrayXf>;
}  // namespace

void CpuKernels::do_layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out,
                              Tensor& mean, Tensor& rstd) {
  const float* px = x.data<float>();
  const std::int64_t N = x.shape().rows(), C = x.dim(-1);
  ConstVec w(weight.data<float>(), C), b(bias.data<float>(), C);
  float* po = out.data<float>();
  float* pm = mean.data<float>();
  float* pr = rstd.data<float>();
  const float inv_c = 1.0f / static_cast<float>(C);
  cpu::parallel_for(N, cpu::row_grain(C), [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t n = lo; n < hi; ++n) {
      ConstVec xr(px + n * C, C);
      // Work on the deviations from the first element, x − x0, which are exact in f32 for
      // nearby values: a row sitting on a large offset keeps the precision of its spread
      // (the mean is x0 + d, d = mean(x − x0)). Two passes: no cancellation in the variance.
      const float x0 = xr[0];
      const float d = (xr - x0).sum() * inv_c;
      const float var = ((xr - x0) - d).square().sum() * inv_c;
      const float rs = 1.0f / std::sqrt(var + eps);
      Vec(po + n * C, C) = ((xr - x0) - d) * rs * w + b;
      pm[n] = x0 + d;
      pr[n] = rs;
    }
  });
}

// Rows are processed in fixed blocks (the size depends only on C). Each block writes dx for
// its rows and sums its dweight / dbias contributions in row order into its own partials,
// which are then added in block order: deterministic for any thread count. The partials
// are kept in double so that long columns (N in the thousands) lose no accuracy.
void CpuKernels::do_layernorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                       const Tensor& rstd, Tensor& dx, Tensor& dweight, Tensor& dbias) {
  const float* pg = dout.data<float>();
  const float* px = x.data<float>();
  const float* pm = mean.data<float>();
  const float* pr = rstd.data<float>();
  float* pdx = dx.data<float>();
  const std::int64_t N = dout.shape().rows(), C = dout.dim(-1);
  ConstVec w(weight.data<float>(), C);
  const bool want_w = dweight.defined(), want_b = dbias.defined();
  const float inv_c = 1.0f / static_cast<float>(C);

  const std::int64_t rows_per_block = cpu::row_grain(C);
  const std::int64_t blocks = (N + rows_per_block - 1) / rows_per_block;
  const auto part_size = static_cast<std::size_t>(blocks * C);
  std::vector<double> part_w(want_w ? part_size : 0, 0.0), part_b(want_b ? part_size : 0, 0.0);

  cpu::parallel_for(blocks, 1, [&](std::int64_t b0, std::int64_t b1) {
    Eigen::ArrayXf xhat(C), g(C);
    for (std::int64_t blk = b0; blk < b1; ++blk) {
      const std::int64_t r1 = std::min(N, (blk + 1) * rows_per_block);
      for (std::int64_t n = blk * rows_per_block; n < r1; ++n) {
        ConstVec xr(px + n * C, C), gr(pg + n * C, C);
        const float rs = pr[n];
        xhat = (xr - pm[n]) * rs;
        g = gr * w;
        const float g_mean = g.sum() * inv_c;
        const float gx_mean = (g * xhat).sum() * inv_c;
        Vec(pdx + n * C, C) += (g - g_mean - xhat * gx_mean) * rs;
        const float* grow = pg + n * C;
        if (want_w) {
          double* acc = part_w.data() + blk * C;
          const float* xh = xhat.data();
          for (std::int64_t c = 0; c < C; ++c) acc[c] += double(grow[c]) * double(xh[c]);
        }
        if (want_b) {
          double* acc = part_b.data() + blk * C;
          for (std::int64_t c = 0; c < C; ++c) acc[c] += double(grow[c]);
        }
      }
    }
  });

  if (want_w) cpu::add_block_partials(part_w.data(), blocks, C, dweight.data<float>());
  if (want_b) cpu::add_block_partials(part_b.data(), blocks, C, dbias.data<float>());
}

}  // namespace tandem
