#include <Eigen/Core>

#include "backends/cpu/cpu_kernels.hpp"
#include "backends/cpu/parallel.hpp"

namespace tandem {

namespace {
using Vec = Eigen::Map<Eigen::ArrayXf>;
using ConstVec = Eigen::Map<const Eigen::ArrayXf>;
}  // namespace

void CpuKernels::do_softmax(const Tensor& x, Tensor& out) {
  const float* px = x.data<float>();
  float* po = out.data<float>();
  const std::int64_t N = x.shape().rows(), C = x.dim(-1);
  cpu::parallel_for(N, cpu::row_grain(C), [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t n = lo; n < hi; ++n) {
      ConstVec xr(px + n * C, C);
      Vec o(po + n * C, C);
      const float mx = xr.maxCoeff();
      o = (xr - mx).exp();
      o *= 1.0f / o.sum();
    }
  });
}

void CpuKernels::do_softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  const float* py = y.data<float>();
  const float* pg = dy.data<float>();
  float* pd = dx.data<float>();
  const std::int64_t N = y.shape().rows(), C = y.dim(-1);
  cpu::parallel_for(N, cpu::row_grain(C), [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t n = lo; n < hi; ++n) {
      ConstVec yr(py + n * C, C), gr(pg + n * C, C);
      const float dot = (yr * gr).sum();
      Vec(pd + n * C, C) += yr * (gr - dot);
    }
  });
}

}  // namespace tandem
