// Matmul on the kernel backends (OpenCL, XRT): every product is one launch of gemm.cl's batched
// `gemm` kernel. As on the CPU, a rank-2 b shared by an untransposed, batched a folds the batch
// into M (one tall GEMM); otherwise the batch goes to the kernel with per-entry strides, and a
// shared b's gradient is the kernel's batch reduction (stride 0 on the output), summed in batch
// order.
#include <algorithm>
#include <cstdint>

#include "backends/device/gemm_launch.hpp"
#include "ops/matmul.hpp"

namespace tandem::device {
namespace {

using i64 = std::int64_t;

// gemm.cl's output tile; only the launch size depends on it, never the result.
constexpr i64 kTileM = 256, kTileN = 256;

// An emulator gets one work-group per output tile, so its runtime balances tiles over the
// cores; a card gets one per compute unit, each CU looping over its share of the tiles.
std::size_t gemm_groups(const DeviceKernels& backend, const Gemm& g) {
  if (backend.is_fpga()) return std::max<std::size_t>(1, backend.compute_units());
  const i64 entries = g.stride_c == 0 ? 1 : g.batch;
  const i64 tiles = entries * ((g.m + kTileM - 1) / kTileM) * ((g.n + kTileN - 1) / kTileN);
  return static_cast<std::size_t>(std::max<i64>(1, tiles));
}

}  // namespace

void run_gemm(Submission& s, const DeviceKernels& backend, const Gemm& g) {
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  // beta == 0: the kernel never reads c, so it need not be copied to the device.
  const Arg c = g.beta == 0.0f ? out(g.c) : inout(g.c);
  s.run("gemm", "gemm", gemm_groups(backend, g),
        {in(g.a), in(g.b), c, i32(g.ta), i32(g.tb), i32(g.m), i32(g.n), i32(g.k), f32(g.alpha), f32(g.beta),
         i32(g.batch), u64(static_cast<std::uint64_t>(g.stride_a)), u64(static_cast<std::uint64_t>(g.stride_b)),
         u64(static_cast<std::uint64_t>(g.stride_c))});
}

void DeviceKernels::do_matmul(const Tensor& a, const Tensor& b, Tensor& out, const MatMulArgs& args) {
  const op::MatMulDims d = op::matmul_dims(a.shape(), b.shape(), args);
  const bool ta = args.trans_a, tb = args.trans_b;
  Submission s(*this);
  if (d.shared_b && !ta) {
    // (batch·M, K) · op(B) -> (batch·M, N)
    run_gemm(s, *this, {a, b, out, false, tb, d.batch * d.m, d.n, d.k, args.alpha, args.beta});
  } else {
    run_gemm(s, *this,
             {a, b, out, ta, tb, d.m, d.n, d.k, args.alpha, args.beta, d.batch, d.m * d.k, d.shared_b ? 0 : d.k * d.n,
              d.m * d.n});
  }
  s.finish();
}

void DeviceKernels::do_matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dout, Tensor& da, Tensor& db,
                                       const MatMulArgs& args) {
  const op::MatMulDims d = op::matmul_dims(a.shape(), b.shape(), args);
  const bool ta = args.trans_a, tb = args.trans_b;
  const float alpha = args.alpha;
  const bool fold = d.shared_b && !ta;  // a's batch entries stack into batch·M rows
  const i64 rows = fold ? d.batch * d.m : d.m, batch = fold ? 1 : d.batch;
  const i64 s_a = d.m * d.k, s_b = d.shared_b ? 0 : d.k * d.n, s_g = d.m * d.n;
  Submission s(*this);
  if (da.defined()) {
    if (!ta) {
      // dA (rows, K) += alpha · G · op(B)ᵀ
      run_gemm(s, *this, {dout, b, da, false, !tb, rows, d.k, d.n, alpha, 1.0f, batch, s_g, s_b, s_a});
    } else {
      // dA (K, M) += alpha · op(B) · Gᵀ
      run_gemm(s, *this, {b, dout, da, tb, true, d.k, d.m, d.n, alpha, 1.0f, batch, s_b, s_g, s_a});
    }
  }
  if (db.defined()) {
    // A shared b's gradient sums over the batch: the kernel reduces when the output stride is 0.
    const i64 s_db = d.shared_b ? 0 : d.k * d.n;
    if (!tb) {
      // dB (K, N) += alpha · op(A)ᵀ · G
      run_gemm(s, *this, {a, dout, db, !ta, false, d.k, d.n, rows, alpha, 1.0f, batch, s_a, s_g, s_db});
    } else {
      // dB (N, K) += alpha · Gᵀ · op(A)
      run_gemm(s, *this, {dout, a, db, true, ta, d.n, d.k, rows, alpha, 1.0f, batch, s_g, s_a, s_db});
    }
  }
  s.finish();
}

}  // namespace tandem::device
