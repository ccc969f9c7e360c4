#include <Eigen/Core>

#include <algorithm>
#include <vector>

#include "backends/cpu/cpu_kernels.hpp"
#include "backends/cpu/parallel.hpp"

namespace tandem {

namespace {
using Vec = Eigen::Map<Eigen::ArrayXf>;
using ConstVec = Eigen::Map<const Eigen::ArrayXf>;

// Channels a task of mean_pool handles for one batch entry.
constexpr std::int64_t kChannelBlock = 256;

// 1 / Σ_t mask[b, t] for each b (1/T without a mask), or 0 for a row with no weight.
std::vector<float> inverse_weights(const Tensor& mask, std::int64_t B, std::int64_t T) {
  std::vector<float> inv(static_cast<std::size_t>(B));
  for (std::int64_t b = 0; b < B; ++b) {
    double total = static_cast<double>(T);
    if (mask.defined()) {
      const float* m = mask.data<float>() + b * T;
      total = 0;
      for (std::int64_t t = 0; t < T; ++t) total += double(m[t]);
    }
    inv[static_cast<std::size_t>(b)] = total > 0 ? static_cast<float>(1.0 / total) : 0.0f;
  }
  return inv;
}
}  // namespace

// Work is split over (batch entry, channel block); each output element sums its tokens in
// order, so the result does not depend on the chunking.
void CpuKernels::do_mean_pool(const Tensor& x, const Tensor& mask, Tensor& out) {
  const float* px = x.data<float>();
  const float* pm = mask.defined() ? mask.data<float>() : nullptr;
  float* po = out.data<float>();
  const std::int64_t B = x.dim(0), T = x.dim(1), C = x.dim(2);
  const std::vector<float> inv = inverse_weights(mask, B, T);
  const std::int64_t blocks = (C + kChannelBlock - 1) / kChannelBlock;
  const std::int64_t grain = std::max<std::int64_t>(1, cpu::kElementGrain / (T * std::min(C, kChannelBlock)));
  cpu::parallel_for(B * blocks, grain, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t u = lo; u < hi; ++u) {
      const std::int64_t b = u / blocks, c0 = (u % blocks) * kChannelBlock;
      const std::int64_t w = std::min(kChannelBlock, C - c0);
      Vec acc(po + b * C + c0, w);
      acc.setZero();
      const float s = inv[static_cast<std::size_t>(b)];
      if (s == 0.0f) continue;  // no token: zeros
      for (std::int64_t t = 0; t < T; ++t) {
        ConstVec xr(px + (b * T + t) * C + c0, w);
        if (!pm)
          acc += xr;
        else if (const float m = pm[b * T + t]; m != 0.0f)
          acc += m * xr;
      }
      acc *= s;
    }
  });
}

void CpuKernels::do_mean_pool_backward(const Tensor& dout, const Tensor& mask, Tensor& dx) {
  const float* pg = dout.data<float>();
  const float* pm = mask.defined() ? mask.data<float>() : nullptr;
  float* pd = dx.data<float>();
  const std::int64_t B = dx.dim(0), T = dx.dim(1), C = dx.dim(2);
  const std::vector<float> inv = inverse_weights(mask, B, T);
  cpu::parallel_for(B * T, cpu::row_grain(C), [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t r = lo; r < hi; ++r) {
      const std::int64_t b = r / T;
      const float w = (pm ? pm[r] : 1.0f) * inv[static_cast<std::size_t>(b)];
      if (w == 0.0f) continue;
      Vec(pd + r * C, C) += w * ConstVec(pg + b * C, C);
    }
  });
}

void CpuKernels::do_first_token_pool(const Tensor& x, Tensor& out) {
  const float* px = x.data<float>();
  float* po = out.data<float>();
  const std::int64_t B = x.dim(0), T = x.dim(1), C = x.dim(2);
  cpu::parallel_for(B, cpu::row_grain(C), [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t b = lo; b < hi; ++b) std::copy_n(px + b * T * C, C, po + b * C);
  });
}

void CpuKernels::do_first_token_pool_backward(const Tensor& dout, Tensor& dx) {
  const float* pg = dout.data<float>();
  float* pd = dx.data<float>();
  const std::int64_t B = dx.dim(0), T = dx.dim(1), C = dx.dim(2);
  cpu::parallel_for(B, cpu::row_grain(C), [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t b = lo; b < hi; ++b) Vec(pd + b * T * C, C) += ConstVec(pg + b * C, C);
  });
}

}  // namespace tandem
