// LoRA on the kernel backends (OpenCL, XRT): thin products on gemm.cl's `gemm` kernel, one launch
// each, in one submission per op (the launches run in order, so a product can read the one before
// it).
#include <algorithm>
#include <cstdint>

#include "backends/device/gemm_launch.hpp"

namespace tandem::device {
namespace {

using i64 = std::int64_t;

// c (m, n) = alpha · op(a) · op(b) + beta · c for contiguous row-major 2-D operands.
void run_gemm_2d(Submission& s, const DeviceKernels& backend, const Tensor& a, bool ta, const Tensor& b, bool tb,
                 Tensor& c, i64 m, i64 n, i64 k, float alpha, float beta) {
  run_gemm(s, backend, {a, b, c, ta, tb, m, n, k, alpha, beta});
}

}  // namespace

void DeviceKernels::do_lora(const Tensor& x, const Tensor& a, const Tensor& b, Tensor& out, Tensor& xa,
                            const LoraArgs& args) {
  const i64 n = x.shape().rows(), cin = x.dim(-1), r = a.dim(1), cout = b.dim(1);
  Submission s(*this);
  // xa (n, r) = x · a
  run_gemm_2d(s, *this, x, false, a, false, xa, n, r, cin, 1.0f, 0.0f);
  // out (n, cout) += scale · xa · b
  run_gemm_2d(s, *this, xa, false, b, false, out, n, cout, r, args.scale, 1.0f);
  s.finish();
}

void DeviceKernels::do_lora_backward(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& xa,
                                     const Tensor& dout, Tensor& dx, Tensor& da, Tensor& db, const LoraArgs& args) {
  const i64 n = x.shape().rows(), cin = x.dim(-1), r = a.dim(1), cout = b.dim(1);
  // Outlives the submission, whose launches read it after writing it.
  Tensor g = Tensor::empty({n, r});
  Submission s(*this);
  // db (r, cout) += scale · xaᵀ · dout
  run_gemm_2d(s, *this, xa, true, dout, false, db, r, cout, n, args.scale, 1.0f);
  // g (n, r) = scale · dout · bᵀ
  run_gemm_2d(s, *this, dout, false, b, true, g, n, r, cout, args.scale, 0.0f);
  // da (cin, r) += xᵀ · g
  run_gemm_2d(s, *this, x, true, g, false, da, cin, r, n, 1.0f, 1.0f);
  // dx (n, cin) += g · aᵀ
  if (dx.defined()) run_gemm_2d(s, *this, g, false, a, true, dx, n, cin, r, 1.0f, 1.0f);
  s.finish();
}

}  // namespace tandem::device
