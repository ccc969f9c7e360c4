// CPU matmul on the project GEMM (backends/cpu/gemm.hpp), which is deterministic and
// independent of the thread count. A shared (rank-2) b with an untransposed a folds the
// batch into M: one big GEMM. Otherwise the batch entries are separate GEMMs: run in
// sequence when each is big enough to use the cores by itself, spread over oneTBB when
// they are small (the GEMM's result does not depend on which thread runs it).
#include <algorithm>
#include <cstdint>

#include "backends/cpu/cpu_kernels.hpp"
#include "backends/cpu/gemm.hpp"
#include "backends/cpu/parallel.hpp"
#include "ops/matmul.hpp"

namespace tandem {

namespace {

using i64 = std::int64_t;

// Below this many flops a GEMM cannot keep two cores busy; batch entries run in parallel.
constexpr double kSmallGemmFlops = 2.0 * 96 * 96 * 96;

// Calls f(e) for every batch entry e; entries must write disjoint memory.
template <class F> void for_each_entry(i64 batch, const op::MatMulDims& d, F&& f) {
  const double flops = 2.0 * double(d.m) * double(d.n) * double(d.k);
  if (batch > 1 && flops < kSmallGemmFlops) {
    const auto grain = std::max<i64>(1, static_cast<i64>(kSmallGemmFlops / 4 / std::max(flops, 1.0)));
    cpu::parallel_for(batch, grain, [&](i64 lo, i64 hi) {
      for (i64 e = lo; e < hi; ++e) f(e);
    });
  } else {
    for (i64 e = 0; e < batch; ++e) f(e);
  }
}

// dA += alpha · ∂/∂A for one entry: A is (rows, K) or (K, rows) when trans_a, G (rows, N).
void grad_a(bool ta, bool tb, i64 rows, i64 N, i64 K, float alpha, const float* B, const float* G, float* dA) {
  if (!ta) {
    // dA (rows, K) = alpha · G · op(B)ᵀ
    if (!tb) cpu::sgemm(false, true, rows, K, N, alpha, G, N, B, N, 1.0f, dA, K);
    else cpu::sgemm(false, false, rows, K, N, alpha, G, N, B, K, 1.0f, dA, K);
  } else {
    // dA (K, rows) = alpha · op(B) · Gᵀ
    if (!tb) cpu::sgemm(false, true, K, rows, N, alpha, B, N, G, N, 1.0f, dA, rows);
    else cpu::sgemm(true, true, K, rows, N, alpha, B, K, G, N, 1.0f, dA, rows);
  }
}

// dB += alpha · ∂/∂B for one entry: op(A) is (rows, K), G (rows, N).
void grad_b(bool ta, bool tb, i64 rows, i64 N, i64 K, float alpha, const float* A, const float* G, float* dB) {
  const i64 lda = ta ? rows : K;
  if (!tb) {
    // dB (K, N) = alpha · op(A)ᵀ · G
    cpu::sgemm(!ta, false, K, N, rows, alpha, A, lda, G, N, 1.0f, dB, N);
  } else {
    // dB (N, K) = alpha · Gᵀ · op(A)
    cpu::sgemm(true, ta, N, K, rows, alpha, G, N, A, lda, 1.0f, dB, K);
  }
}

}  // namespace

void CpuKernels::do_matmul(const Tensor& a, const Tensor& b, Tensor& out, const MatMulArgs& args) {
  const op::MatMulDims d = op::matmul_dims(a.shape(), b.shape(), args);
  const bool ta = args.trans_a, tb = args.trans_b;
  const float* A = a.data<float>();
  const float* B = b.data<float>();
  float* C = out.data<float>();
  const i64 lda = ta ? d.m : d.k;
  const i64 ldb = tb ? d.k : d.n;
  if (d.shared_b && !ta) {
    cpu::sgemm(false, tb, d.batch * d.m, d.n, d.k, args.alpha, A, lda, B, ldb, args.beta, C, d.n);
    return;
  }
  for_each_entry(d.batch, d, [&](i64 e) {
    const float* Be = d.shared_b ? B : B + e * d.k * d.n;
    cpu::sgemm(ta, tb, d.m, d.n, d.k, args.alpha, A + e * d.m * d.k, lda, Be, ldb, args.beta, C + e * d.m * d.n,
               d.n);
  });
}

void CpuKernels::do_matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dout, Tensor& da, Tensor& db,
                                    const MatMulArgs& args) {
  const op::MatMulDims d = op::matmul_dims(a.shape(), b.shape(), args);
  const bool ta = args.trans_a, tb = args.trans_b;
  const float alpha = args.alpha;
  const float* A = a.data<float>();
  const float* B = b.data<float>();
  const float* G = dout.data<float>();
  const i64 mk = d.m * d.k, kn = d.k * d.n, mn = d.m * d.n;
  const bool fold = d.shared_b && !ta;  // a's batch entries stack into batch·m rows

  if (da.defined()) {
    float* dA = da.data<float>();
    if (fold) {
      grad_a(false, tb, d.batch * d.m, d.n, d.k, alpha, B, G, dA);
    } else {
      for_each_entry(d.batch, d, [&](i64 e) {
        grad_a(ta, tb, d.m, d.n, d.k, alpha, d.shared_b ? B : B + e * kn, G + e * mn, dA + e * mk);
      });
    }
  }
  if (db.defined()) {
    float* dB = db.data<float>();
    if (fold) {
      grad_b(false, tb, d.batch * d.m, d.n, d.k, alpha, A, G, dB);
    } else if (d.shared_b) {
      // Every entry adds into the one dB: in batch order, so the sum is deterministic.
      for (i64 e = 0; e < d.batch; ++e) grad_b(ta, tb, d.m, d.n, d.k, alpha, A + e * mk, G + e * mn, dB);
    } else {
      for_each_entry(d.batch, d, [&](i64 e) {
        grad_b(ta, tb, d.m, d.n, d.k, alpha, A + e * mk, G + e * mn, dB + e * kn);
      });
    }
  }
}

}  // namespace tandem
