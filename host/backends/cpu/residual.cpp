#include <Eigen/Core>

#include "backends/cpu/cpu_kernels.hpp"
#include "backends/cpu/parallel.hpp"

namespace tandem {

namespace {
using Vec = Eigen::Map<Eigen::ArrayXf>;
using ConstVec = Eigen::Map<const Eigen::ArrayXf>;
}  // namespace

void CpuKernels::do_residual_add(const Tensor& a, const Tensor& b, Tensor& out) {
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* po = out.data<float>();
  cpu::parallel_for(a.numel(), cpu::kElementGrain, [&](std::int64_t lo, std::int64_t hi) {
    Vec(po + lo, hi - lo) = ConstVec(pa + lo, hi - lo) + ConstVec(pb + lo, hi - lo);
  });
}

void CpuKernels::do_residual_add_backward(const Tensor& dout, Tensor& da, Tensor& db) {
  const float* g = dout.data<float>();
  float* pa = da.data<float>();
  float* pb = db.data<float>();
  cpu::parallel_for(dout.numel(), cpu::kElementGrain, [&](std::int64_t lo, std::int64_t hi) {
    ConstVec gv(g + lo, hi - lo);
    Vec(pa + lo, hi - lo) += gv;
    Vec(pb + lo, hi - lo) += gv;
  });
}

}  // namespace tandem
