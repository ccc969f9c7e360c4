// Tandem CPU single-precision GEMM.
//
// Why a hand-written kernel exists: Tandem's matmul must run at >= 90% of
// OpenBLAS sgemm on the target CPU (AMD EPYC Zen 4, AVX-512, 2 cores).
// Eigen 3.4 was measured short of that (~110-150 GFLOP/s vs OpenBLAS
// ~150-200 GFLOP/s at 1024^3 with 2 threads), and we do not want a BLAS
// runtime dependency in the library. gemm.cpp therefore implements a
// BLIS-style packed GEMM (cache blocking + AVX-512 register-tile
// micro-kernel) parallelised with oneTBB, selected at runtime when the CPU
// supports AVX-512F; other CPUs fall back to Eigen.
//
// Determinism: for fixed shapes and arguments the result is bitwise
// identical across runs and independent of the thread count (threads only
// split the M/N dimensions of C; every element's K-sum is always done in the
// same order).
#pragma once

#include <cstdint>

namespace tandem::cpu {

// C(M,N) = alpha * op(A) * op(B) + beta * C; row-major; op(X) = X or X^T.
// A is (M,K) with row stride lda, or (K,M) when trans_a. B is (K,N) with ldb,
// or (N,K) when trans_b. C is (M,N) with row stride ldc.
//
// BLAS semantics: when beta == 0, C is not read (NaN/Inf garbage in C is
// overwritten); when K == 0 or alpha == 0, C = beta * C (with the same
// beta == 0 rule). M, N, K must be >= 0; lda/ldb/ldc must be >= the row width
// of the stored matrix (at least 1). Parallelism follows the current oneTBB
// limits (tbb::global_control / enclosing task_arena).
void sgemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
           const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
           std::int64_t ldc);

}  // namespace tandem::cpu
