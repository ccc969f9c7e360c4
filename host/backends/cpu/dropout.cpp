#include "backends/cpu/cpu_kernels.hpp"
#include "backends/cpu/parallel.hpp"
#include "ops/dropout.hpp"

namespace tandem {

// Plain loops over the shared mask function (host/ops/dropout.hpp); GCC vectorises the
// 64-bit integer hash (AVX-512DQ vpmullq) once every operand is a local, which is why the
// loops live in functions taking them by value. Each element depends only on its own
// index: no ordering concerns.
namespace {
void dropout_range(const float* x, float* out, std::int64_t lo, std::int64_t hi, std::uint64_t key, float p,
                   float scale) {
  for (std::int64_t i = lo; i < hi; ++i) out[i] = op::dropout_keep(key, std::uint64_t(i), p) ? x[i] * scale : 0.0f;
}

void dropout_backward_range(const float* dout, float* dx, std::int64_t lo, std::int64_t hi, std::uint64_t key,
                            float p, float scale) {
  for (std::int64_t i = lo; i < hi; ++i) dx[i] += op::dropout_keep(key, std::uint64_t(i), p) ? dout[i] * scale : 0.0f;
}
}  // namespace

void CpuKernels::do_dropout(const Tensor& x, Tensor& out, const DropoutArgs& args) {
  const float* px = x.data<float>();
  float* po = out.data<float>();
  const float p = args.p;
  const auto scale = static_cast<float>(1.0 / (1.0 - double(p)));
  const std::uint64_t key = op::dropout_key(args.seed);
  cpu::parallel_for(x.numel(), cpu::kElementGrain,
                    [=](std::int64_t lo, std::int64_t hi) { dropout_range(px, po, lo, hi, key, p, scale); });
}

void CpuKernels::do_dropout_backward(const Tensor& dout, Tensor& dx, const DropoutArgs& args) {
  const float* pg = dout.data<float>();
  float* pd = dx.data<float>();
  const float p = args.p;
  const auto scale = static_cast<float>(1.0 / (1.0 - double(p)));
  const std::uint64_t key = op::dropout_key(args.seed);
  cpu::parallel_for(dout.numel(), cpu::kElementGrain,
                    [=](std::int64_t lo, std::int64_t hi) { dropout_backward_range(pg, pd, lo, hi, key, p, scale); });
}

}  // namespace tandem
