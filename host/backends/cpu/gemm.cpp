// Tandem CPU SGEMM: BLIS-style packed GEMM with an AVX-512 micro-kernel.
// See gemm.hpp for why this exists. Written from scratch for Tandem.
//
// C is split into a grid of macro-tiles (one oneTBB task each, M/N only).
// Per macro-tile rows [m0,m1) x cols [n0,n1):
//   for ic in [m0,m1) step MC:
//     for pc in [0,K) step KC:                 (K order fixed: determinism)
//       pack op(A)[ic:ic+mc, pc:pc+kc] -> MR-row, k-major micro-panels
//       for jc in [n0,n1) step NC:
//         pack op(B)[pc:pc+kc, jc:jc+nc] -> NR-col, k-major micro-panels (L2)
//         for ir in mc step MR:                A micro-panel (MR x KC) in L1
//           for jr in nc step NR:              B micro-panels stream from L2
//             C[ir:+MR, jr:+NR] (op)= alpha * Apanel * Bpanel   (micro-kernel)
// where (op) is "=" (first K block, beta == 0: C is never read), "= .. +
// beta*C" (first K block, other beta) or "+=" (later K blocks).
//
// The micro-kernel keeps an MR x NR tile of C in zmm registers (MR rows x NV
// vectors of 16 floats); per k it loads NV vectors of B and broadcasts MR
// elements of A into FMAs. Edge tiles use smaller instances of the same
// kernel (fewer rows / vectors, masked stores) instead of padding work.
//
// Determinism: the KC blocking depends only on K, never on the thread count
// or the macro-tile grid, and every lane of every kernel instance performs the
// same sequence of fp32 operations for its element (zero init, one FMA per k
// in order, then the alpha/beta update). Hence each C element gets bitwise the
// same value however M/N are split across threads.

#include "backends/cpu/gemm.hpp"

#include <immintrin.h>
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

#include "core/tsan.hpp"

#define TANDEM_AVX512_TARGET __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))

namespace tandem::cpu {
namespace {

using i64 = std::int64_t;

// ---------------------------------------------------------------------------
// Blocking parameters (Zen 4: 32 KiB L1d, 1 MiB L2 per core, 32 MiB L3).
//
// Register tile MR x NR = 12 x 32: 24 zmm accumulators + 2 B vectors (+1
// broadcast) of the 32 zmm registers; per k it issues 2 vector loads and 12
// broadcasts for 24 FMAs (Zen 4 executes one 512-bit FMA per cycle). In
// isolation it runs at ~98% of the FMA peak. 12 rows beat 14 on GPT-2 shapes
// (fewer wasted rows at power-of-two M); 8 x 48 and 6 x 64 measured similar
// or slightly worse overall.
//
// Loop order per macro-tile (see top of file): the A micro-panel
// (MR x KC = 12 x 384 floats = 18 KiB) stays in L1 while the jr loop streams
// B micro-panels (KC x NR = 48 KiB each) out of the packed B block
// (KC x NC = 384 x 384 floats = 576 KiB), which lives in L2. MC (rows of A
// packed per KC step) is large so that A is packed once per macro-tile and B
// is rarely re-packed; the A block sits in L2/L3 and each micro-panel is
// streamed from there once per NC block. Measured (1 and 2 threads, 1024^3 and
// GPT-2 shapes) KC in 256..512, NC in 256..768 and MC in 240..1152 were all
// within ~3% of each other; KC = 384 / NC = 384 / MC = 1152 was best overall.
// ---------------------------------------------------------------------------
#ifndef TANDEM_GEMM_MR
#define TANDEM_GEMM_MR 12
#endif
#ifndef TANDEM_GEMM_NV
#define TANDEM_GEMM_NV 2
#endif
#ifndef TANDEM_GEMM_KC
#define TANDEM_GEMM_KC 384
#endif
#ifndef TANDEM_GEMM_MC
#define TANDEM_GEMM_MC 1152
#endif
#ifndef TANDEM_GEMM_NC
#define TANDEM_GEMM_NC 384
#endif

constexpr int kMR = TANDEM_GEMM_MR;     // rows of the register tile
constexpr int kNV = TANDEM_GEMM_NV;     // zmm vectors per tile row
constexpr int kNR = 16 * kNV;           // columns of the register tile
constexpr i64 kKCMax = TANDEM_GEMM_KC;  // max depth of a packed block (multiple of 8)
constexpr i64 kMC = TANDEM_GEMM_MC;     // max rows of a packed A block (multiple of MR)
constexpr i64 kNCMax = TANDEM_GEMM_NC;  // max cols of a packed B block (multiple of NR)
static_assert(kMR >= 1 && kMR <= 16, "A packing transposes 16-row groups");
static_assert(kMR * kNV + kNV <= 32, "register tile must fit in 32 zmm registers");
static_assert(kMC % kMR == 0 && kNCMax % kNR == 0, "blocks must be whole micro-panels");
static_assert(kKCMax % 8 == 0, "k_block rounds to multiples of 8");

constexpr std::size_t kAlign = 64;

#ifndef TANDEM_GEMM_COPY_ROWS
#define TANDEM_GEMM_COPY_ROWS 8
#endif
// Source rows handled per step by the copy-type packing routines.
constexpr i64 kCopyRows = TANDEM_GEMM_COPY_ROWS;

inline i64 ceil_div(i64 a, i64 b) { return (a + b - 1) / b; }
inline i64 round_up(i64 a, i64 b) { return ceil_div(a, b) * b; }

// Depth of each K block: split K into ceil(K / KCmax) nearly equal blocks so
// that there is no tiny tail block. Depends on K only (determinism).
inline i64 k_block(i64 K) {
  const i64 nblocks = ceil_div(K, kKCMax);
  return round_up(ceil_div(K, nblocks), 8);
}

// ---------------------------------------------------------------------------
// Thread-local, 64-byte aligned, grow-only packing buffers.
// ---------------------------------------------------------------------------
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { release(); }

  float* get(std::size_t count) {
    if (count > capacity_) {
      // Grow geometrically so alternating shapes do not reallocate each call.
      const std::size_t want = std::max(count, capacity_ + capacity_ / 2);
      release();
      data_ = static_cast<float*>(::operator new(want * sizeof(float), std::align_val_t{kAlign}));
      capacity_ = want;
    }
    return data_;
  }

 private:
  void release() {
    if (data_ != nullptr) {
      ::operator delete(data_, std::align_val_t{kAlign});
      data_ = nullptr;
      capacity_ = 0;
    }
  }
  float* data_ = nullptr;
  std::size_t capacity_ = 0;
};

struct PackBuffers {
  AlignedBuffer a;
  AlignedBuffer b;
};

PackBuffers& thread_buffers() {
  thread_local PackBuffers buffers;
  return buffers;
}

// ---------------------------------------------------------------------------
// AVX-512 code.
// ---------------------------------------------------------------------------

TANDEM_AVX512_TARGET inline __mmask16 tail_mask(i64 n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// In-register transpose of a 16x16 block: on return r[j][i] = old r[i][j].
// (maskz forms with an all-ones mask compile to the plain instructions and
// avoid GCC 12's spurious -Wmaybe-uninitialized from _mm512_undefined_ps.)
TANDEM_AVX512_TARGET inline void transpose16(__m512 r[16]) {
  constexpr __mmask16 kAll = 0xFFFF;
  constexpr __mmask8 kAll8 = 0xFF;
  __m512 a[16];
  for (int i = 0; i < 16; i += 2) {
    a[i] = _mm512_maskz_unpacklo_ps(kAll, r[i], r[i + 1]);
    a[i + 1] = _mm512_maskz_unpackhi_ps(kAll, r[i], r[i + 1]);
  }
  // b[4g + c], lane L = rows 4g..4g+3 of column 4L + c.
  __m512 b[16];
  for (int g = 0; g < 4; ++g) {
    const __m512d a0 = _mm512_castps_pd(a[4 * g + 0]);
    const __m512d a1 = _mm512_castps_pd(a[4 * g + 1]);
    const __m512d a2 = _mm512_castps_pd(a[4 * g + 2]);
    const __m512d a3 = _mm512_castps_pd(a[4 * g + 3]);
    b[4 * g + 0] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(kAll8, a0, a2));
    b[4 * g + 1] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(kAll8, a0, a2));
    b[4 * g + 2] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(kAll8, a1, a3));
    b[4 * g + 3] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(kAll8, a1, a3));
  }
  for (int c = 0; c < 4; ++c) {
    const __m512 u0 = _mm512_maskz_shuffle_f32x4(kAll, b[c], b[4 + c], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 u1 = _mm512_maskz_shuffle_f32x4(kAll, b[c], b[4 + c], _MM_SHUFFLE(3, 1, 3, 1));
    const __m512 u2 =
        _mm512_maskz_shuffle_f32x4(kAll, b[8 + c], b[12 + c], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 u3 =
        _mm512_maskz_shuffle_f32x4(kAll, b[8 + c], b[12 + c], _MM_SHUFFLE(3, 1, 3, 1));
    r[c] = _mm512_maskz_shuffle_f32x4(kAll, u0, u2, _MM_SHUFFLE(2, 0, 2, 0));
    r[8 + c] = _mm512_maskz_shuffle_f32x4(kAll, u0, u2, _MM_SHUFFLE(3, 1, 3, 1));
    r[4 + c] = _mm512_maskz_shuffle_f32x4(kAll, u1, u3, _MM_SHUFFLE(2, 0, 2, 0));
    r[12 + c] = _mm512_maskz_shuffle_f32x4(kAll, u1, u3, _MM_SHUFFLE(3, 1, 3, 1));
  }
}

// Reads a rows x cols (<= 16 x 16) block whose row r starts at src + r*ld
// (rows >= `rows` read as zero), transposes it and, for each c < cols, writes
// source column c (16 lanes, one per source row) to dst + c*dst_stride: with
// aligned full-width stores if `aligned_full`, else lanes `store_mask` only.
TANDEM_AVX512_TARGET inline void transpose_block(const float* src, i64 ld, i64 rows, i64 cols,
                                                 float* dst, i64 dst_stride, __mmask16 store_mask,
                                                 bool aligned_full) {
  __m512 r[16];
  const __mmask16 cm = tail_mask(cols);
  for (int i = 0; i < 16; ++i) {
    r[i] = i < rows ? _mm512_maskz_loadu_ps(cm, src + i * ld) : _mm512_setzero_ps();
  }
  transpose16(r);
  if (aligned_full) {
    for (int c = 0; c < 16; ++c) {
      if (c < cols) _mm512_store_ps(dst + c * dst_stride, r[c]);
    }
  } else {
    for (int c = 0; c < 16; ++c) {
      if (c < cols) _mm512_mask_storeu_ps(dst + c * dst_stride, store_mask, r[c]);
    }
  }
}

// Packs op(A)[i0:i0+mc, p0:p0+kc] into ceil(mc/MR) micro-panels, each kc x MR
// (k-major), rows beyond mc zero-filled.
TANDEM_AVX512_TARGET void pack_a(bool trans_a, const float* A, i64 lda, i64 i0, i64 mc, i64 p0,
                                 i64 kc, float* dst) {
  const __mmask16 mr_mask = tail_mask(kMR);
  if (trans_a) {
    // op(A)[i][k] = A[k*lda + i]: row k of the source holds all mc values for
    // that k. Work on kCopyRows source rows at a time so the source lines stay
    // in L1 while MR-wide pieces are copied to each panel.
    const i64 full = mc / kMR;
    const i64 rem = mc - full * kMR;
    const __mmask16 rem_mask = tail_mask(rem);
    for (i64 k0 = 0; k0 < kc; k0 += kCopyRows) {
      const i64 k1 = std::min<i64>(kc, k0 + kCopyRows);
      for (i64 p = 0; p <= full; ++p) {
        if (p == full && rem == 0) break;
        const __mmask16 lm = p < full ? mr_mask : rem_mask;
        const float* src = A + p0 * lda + i0 + p * kMR;
        float* out = dst + p * kc * kMR;
        for (i64 k = k0; k < k1; ++k) {
          _mm512_mask_storeu_ps(out + k * kMR, mr_mask, _mm512_maskz_loadu_ps(lm, src + k * lda));
        }
      }
    }
    return;
  }
  // op(A)[i][k] = A[i*lda + k]: transpose 16-wide k chunks of mr rows.
  for (i64 ir = 0; ir < mc; ir += kMR) {
    const i64 mr = std::min<i64>(kMR, mc - ir);
    float* panel = dst + ir * kc;
    const float* src = A + (i0 + ir) * lda + p0;
    for (i64 k = 0; k < kc; k += 16) {
      transpose_block(src + k, lda, mr, std::min<i64>(16, kc - k), panel + k * kMR, kMR, mr_mask,
                      false);
    }
  }
}

// Packs op(B)[p0:p0+kc, j0:j0+nc] into ceil(nc/NR) micro-panels, each kc x NR
// (k-major), columns beyond nc zero-filled.
TANDEM_AVX512_TARGET void pack_b(bool trans_b, const float* B, i64 ldb, i64 p0, i64 kc, i64 j0,
                                 i64 nc, float* dst) {
  if (!trans_b) {
    // op(B)[k][j] = B[k*ldb + j]: copy NR-wide pieces of kCopyRows source
    // rows at a time to each panel.
    const i64 full = nc / kNR;
    const i64 rem = nc - full * kNR;
    for (i64 k0 = 0; k0 < kc; k0 += kCopyRows) {
      const i64 k1 = std::min<i64>(kc, k0 + kCopyRows);
      for (i64 p = 0; p < full; ++p) {
        const float* src = B + p0 * ldb + j0 + p * kNR;
        float* out = dst + p * kc * kNR;
        for (i64 k = k0; k < k1; ++k) {
#pragma GCC unroll 4
          for (int v = 0; v < kNV; ++v) {
            _mm512_store_ps(out + k * kNR + 16 * v, _mm512_loadu_ps(src + k * ldb + 16 * v));
          }
        }
      }
      if (rem > 0) {
        const float* src = B + p0 * ldb + j0 + full * kNR;
        float* out = dst + full * kc * kNR;
        for (i64 k = k0; k < k1; ++k) {
#pragma GCC unroll 4
          for (int v = 0; v < kNV; ++v) {
            const __mmask16 m = tail_mask(std::max<i64>(0, rem - 16 * v));
            _mm512_store_ps(out + k * kNR + 16 * v,
                            _mm512_maskz_loadu_ps(m, src + k * ldb + 16 * v));
          }
        }
      }
    }
    return;
  }
  // op(B)[k][j] = B[j*ldb + k]: transpose 16x16 blocks (16 columns j x 16 k).
  for (i64 jr = 0; jr < nc; jr += kNR) {
    const i64 nr = std::min<i64>(kNR, nc - jr);
    float* panel = dst + jr * kc;
    for (int v = 0; v < kNV; ++v) {
      const i64 rows = std::max<i64>(0, std::min<i64>(16, nr - 16 * v));
      const float* src = B + (j0 + jr + 16 * v) * ldb + p0;
      for (i64 k = 0; k < kc; k += 16) {
        transpose_block(src + k, ldb, rows, std::min<i64>(16, kc - k), panel + k * kNR + 16 * v,
                        kNR, 0, true);
      }
    }
  }
}

// How the micro-kernel combines its accumulator with C.
enum class Update { kOverwrite, kAccumulate, kScale };  // alpha*acc | +C | +beta*C

template <Update U>
TANDEM_AVX512_TARGET __attribute__((always_inline)) inline __m512 combine(__m512 acc, __m512 valpha,
                                                                          __m512 vbeta, __m512 c) {
  if constexpr (U == Update::kOverwrite) {
    (void)vbeta;
    (void)c;
    return _mm512_mul_ps(valpha, acc);
  } else if constexpr (U == Update::kAccumulate) {
    (void)vbeta;
    return _mm512_fmadd_ps(valpha, acc, c);
  } else {
    return _mm512_fmadd_ps(valpha, acc, _mm512_mul_ps(vbeta, c));
  }
}

// Writes the ROWS x (16*NV) accumulator tile to C; only the first n columns
// are stored (n <= 16*NV). Lanes compute identically whether masked or not.
template <Update U, int ROWS, int NV>
TANDEM_AVX512_TARGET __attribute__((always_inline)) inline void store_tile(__m512 (&acc)[ROWS][NV],
                                                                           float* c, i64 ldc,
                                                                           float alpha, float beta,
                                                                           i64 n) {
  const __m512 valpha = _mm512_set1_ps(alpha);
  const __m512 vbeta = _mm512_set1_ps(beta);
  if (n == 16 * NV) {
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        float* p = c + i * ldc + 16 * v;
        const __m512 old = U == Update::kOverwrite ? _mm512_setzero_ps() : _mm512_loadu_ps(p);
        _mm512_storeu_ps(p, combine<U>(acc[i][v], valpha, vbeta, old));
      }
    }
  } else {
    // Only the last vector can be partial: the kernel is chosen so that
    // 16*(NV-1) < n < 16*NV.
    const __mmask16 mask = tail_mask(n - 16 * (NV - 1));
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < NV - 1; ++v) {
        float* p = c + i * ldc + 16 * v;
        const __m512 old = U == Update::kOverwrite ? _mm512_setzero_ps() : _mm512_loadu_ps(p);
        _mm512_storeu_ps(p, combine<U>(acc[i][v], valpha, vbeta, old));
      }
      float* p = c + i * ldc + 16 * (NV - 1);
      const __m512 old =
          U == Update::kOverwrite ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, p);
      _mm512_mask_storeu_ps(p, mask, combine<U>(acc[i][NV - 1], valpha, vbeta, old));
    }
  }
}

// Micro-kernel for a ROWS x (16*NV) block of C (ROWS <= MR, NV <= NV_max;
// the full-size instance is the hot one, smaller ones handle M/N edges without
// wasted FMAs):
//   C[0:ROWS, 0:n] (op)= alpha * sum_k a[k*MR + i] * b[k*NR + j]
// where a / b are packed micro-panels (row stride MR / NR).
template <int ROWS, int NV>
TANDEM_AVX512_TARGET void micro_kernel(i64 kc, const float* __restrict a, const float* __restrict b,
                                       float* c, i64 ldc, float alpha, float beta, Update mode,
                                       i64 n) {
  __m512 acc[ROWS][NV];
#pragma GCC unroll 16
  for (int i = 0; i < ROWS; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  }
#pragma GCC unroll 4
  for (i64 k = 0; k < kc; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; ++i) {
      const __m512 av = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
    }
    a += kMR;
    b += kNR;
  }
  switch (mode) {
    case Update::kOverwrite:
      store_tile<Update::kOverwrite, ROWS, NV>(acc, c, ldc, alpha, beta, n);
      break;
    case Update::kAccumulate:
      store_tile<Update::kAccumulate, ROWS, NV>(acc, c, ldc, alpha, beta, n);
      break;
    case Update::kScale:
      store_tile<Update::kScale, ROWS, NV>(acc, c, ldc, alpha, beta, n);
      break;
  }
}

using KernelFn = void (*)(i64, const float*, const float*, float*, i64, float, float, Update, i64);

// kKernels[rows - 1][vectors - 1]: every edge-tile shape.
template <int ROWS, int... V>
constexpr std::array<KernelFn, kNV> make_kernel_row(std::integer_sequence<int, V...>) {
  return {{&micro_kernel<ROWS, V + 1>...}};
}
template <int... R>
constexpr std::array<std::array<KernelFn, kNV>, kMR> make_kernel_table(
    std::integer_sequence<int, R...>) {
  return {{make_kernel_row<R + 1>(std::make_integer_sequence<int, kNV>{})...}};
}
constexpr auto kKernels = make_kernel_table(std::make_integer_sequence<int, kMR>{});

struct GemmArgs {
  bool trans_a;
  bool trans_b;
  i64 M, N, K;
  float alpha;
  const float* A;
  i64 lda;
  const float* B;
  i64 ldb;
  float beta;
  float* C;
  i64 ldc;
  i64 kc_block;  // depth of K blocks (from k_block(K))
};

// Splits [0, extent) into ceil(extent / max_block) nearly equal blocks whose
// size is a multiple of `unit` (the last block may be smaller).
inline i64 even_block(i64 extent, i64 max_block, i64 unit) {
  const i64 nblocks = ceil_div(extent, max_block);
  return std::min(max_block, round_up(ceil_div(extent, nblocks), unit));
}

// Computes the C macro-tile rows [m0, m1) x cols [n0, n1).
TANDEM_AVX512_TARGET void compute_tile(const GemmArgs& g, i64 m0, i64 m1, i64 n0, i64 n1) {
  PackBuffers& bufs = thread_buffers();
  const i64 kcb = g.kc_block;
  // Even splits avoid a thin trailing block with poor reuse of the packed
  // panels. (Only KC affects the arithmetic; MC/NC do not.)
  const i64 mcb = even_block(m1 - m0, kMC, kMR);
  const i64 ncb = even_block(n1 - n0, kNCMax, kNR);
  float* bpack = bufs.b.get(static_cast<std::size_t>(kcb * round_up(ncb, kNR)));
  float* apack = bufs.a.get(static_cast<std::size_t>(kcb * round_up(mcb, kMR)));

  for (i64 ic = m0; ic < m1; ic += mcb) {
    const i64 mc = std::min<i64>(mcb, m1 - ic);
    for (i64 pc = 0; pc < g.K; pc += kcb) {
      const i64 kc = std::min<i64>(kcb, g.K - pc);
      Update mode = Update::kAccumulate;
      if (pc == 0) {
        if (g.beta == 0.0f) {
          mode = Update::kOverwrite;
        } else if (g.beta != 1.0f) {
          mode = Update::kScale;
        }
      }
      pack_a(g.trans_a, g.A, g.lda, ic, mc, pc, kc, apack);
      for (i64 jc = n0; jc < n1; jc += ncb) {
        const i64 nc = std::min<i64>(ncb, n1 - jc);
        pack_b(g.trans_b, g.B, g.ldb, pc, kc, jc, nc, bpack);
        for (i64 ir = 0; ir < mc; ir += kMR) {
          const float* ap = apack + ir * kc;
          float* crow = g.C + (ic + ir) * g.ldc + jc;
          const i64 mr = std::min<i64>(kMR, mc - ir);
          for (i64 jr = 0; jr < nc; jr += kNR) {
            const i64 nr = std::min<i64>(kNR, nc - jr);
            const KernelFn kernel = kKernels[static_cast<std::size_t>(mr - 1)]
                                            [static_cast<std::size_t>(ceil_div(nr, 16) - 1)];
            kernel(kc, ap, bpack + jr * kc, crow + jr, g.ldc, g.alpha, g.beta, mode, nr);
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Threading: split C into a gm x gn grid of macro-tiles (multiples of MR/NR).
// ---------------------------------------------------------------------------
struct Grid {
  i64 gm = 1, gn = 1;  // number of tiles along M / N
  i64 tm = 0, tn = 0;  // tile extent along M / N
};

int max_threads() {
  const auto limit =
      tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism);
  const int arena = tbb::this_task_arena::max_concurrency();
  return static_cast<int>(std::max<std::size_t>(
      1, std::min<std::size_t>(limit, static_cast<std::size_t>(std::max(arena, 1)))));
}

// Picks the macro-tile grid with the lowest modelled time: compute per wave
// of tiles plus the packing each tile does (A once per tile, B once per MC
// block of the tile; transposing packs cost about twice a plain copy).
// Splitting N is slightly penalised: with 2 threads on Zen 4, splitting M
// measured ~5% faster at 1024^3 than splitting N (tiles of full C rows; each
// thread's A block stays small). Changing the grid never changes results.
Grid choose_grid(i64 M, i64 N, i64 K, bool trans_a, bool trans_b, int threads) {
  Grid best;
  best.tm = round_up(M, kMR);
  best.tn = round_up(N, kNR);
  // Below ~1 MFLOP (~10 us on one core) fork/join overhead eats the gain
  // (measured: 80^3 runs 1.6x faster on 2 threads, 64^3 runs slower).
  const double flops =
      2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  if (threads <= 1 || flops < 1.0e6) return best;

  // Packing cost in cycles per element (copy vs. 16x16 in-register transpose).
  const double a_pack = trans_a ? 0.5 : 1.0;
  const double b_pack = trans_b ? 1.0 : 0.5;
  const double kd = static_cast<double>(K);
  const i64 mpan = ceil_div(M, kMR);
  const i64 npan = ceil_div(N, kNR);
  const i64 max_tiles = 4 * static_cast<i64>(threads);
  double best_cost = -1.0;
  for (i64 gm = 1; gm <= std::min(mpan, max_tiles); ++gm) {
    for (i64 gn = 1; gn <= std::min(npan, max_tiles / gm); ++gn) {
      const i64 tm = ceil_div(mpan, gm) * kMR;
      const i64 tn = ceil_div(npan, gn) * kNR;
      if (ceil_div(M, tm) != gm || ceil_div(N, tn) != gn) continue;  // empty tiles
      const double waves = static_cast<double>(ceil_div(gm * gn, threads));
      // One zmm FMA (16 multiply-adds) per cycle.
      const double compute = static_cast<double>(tm) * static_cast<double>(tn) * kd / 16.0;
      const double pack =
          kd * (a_pack * static_cast<double>(tm) +
                b_pack * static_cast<double>(tn) * static_cast<double>(ceil_div(tm, kMC)));
      const double cost = waves * (compute + pack) * (gn > 1 ? 1.04 : 1.0);
      if (best_cost < 0.0 || cost < best_cost * 0.999) {
        best_cost = cost;
        best.gm = gm;
        best.gn = gn;
        best.tm = tm;
        best.tn = tn;
      }
    }
  }
  return best;
}

void sgemm_avx512(const GemmArgs& g) {
  const Grid grid = choose_grid(g.M, g.N, g.K, g.trans_a, g.trans_b, max_threads());
  const i64 tiles = grid.gm * grid.gn;
  auto run = [&g, &grid](i64 t) {
    const i64 bi = t / grid.gn;
    const i64 bj = t % grid.gn;
    const i64 m0 = bi * grid.tm;
    const i64 n0 = bj * grid.tn;
    compute_tile(g, m0, std::min(g.M, m0 + grid.tm), n0, std::min(g.N, n0 + grid.tn));
  };
  if (tiles == 1) {
    run(0);
    return;
  }
  tsan::release(&tsan::kHandOff);  // core/tsan.hpp: tiles may run on another thread
  tbb::parallel_for(
      tbb::blocked_range<i64>(0, tiles, 1),
      [&run](const tbb::blocked_range<i64>& r) {
        tsan::acquire(&tsan::kHandOff);
        for (i64 t = r.begin(); t != r.end(); ++t) run(t);
        tsan::release(&tsan::kTaskDone);
      },
      tbb::simple_partitioner());
  tsan::acquire(&tsan::kTaskDone);
}

// ---------------------------------------------------------------------------
// Eigen fallback (CPUs without AVX-512).
// ---------------------------------------------------------------------------
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;
using MutMap = Eigen::Map<RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;

void sgemm_eigen_rows(const GemmArgs& g, i64 m0, i64 m1) {
  const i64 rows = m1 - m0;
  MutMap c(g.C + m0 * g.ldc, rows, g.N, Eigen::OuterStride<>(g.ldc));
  auto body = [&](const auto& opa) {
    auto compute = [&](const auto& opb) {
      if (g.beta == 0.0f) {
        c.noalias() = g.alpha * (opa * opb);
      } else {
        if (g.beta != 1.0f) c *= g.beta;
        c.noalias() += g.alpha * (opa * opb);
      }
    };
    if (g.trans_b) {
      ConstMap b(g.B, g.N, g.K, Eigen::OuterStride<>(g.ldb));
      compute(b.transpose());
    } else {
      ConstMap b(g.B, g.K, g.N, Eigen::OuterStride<>(g.ldb));
      compute(b);
    }
  };
  if (g.trans_a) {
    ConstMap a(g.A + m0, g.K, rows, Eigen::OuterStride<>(g.lda));
    body(a.transpose());
  } else {
    ConstMap a(g.A + m0 * g.lda, rows, g.K, Eigen::OuterStride<>(g.lda));
    body(a);
  }
}

void sgemm_eigen(const GemmArgs& g) {
  // Row chunks depend only on M (never on the thread count), so the result is
  // the same however many threads run them. At most 8 chunks so that Eigen's
  // per-call packing of B is not repeated too often.
  const i64 chunk_rows = std::max<i64>(128, round_up(ceil_div(g.M, 8), 16));
  const i64 chunks = ceil_div(g.M, chunk_rows);
  auto run_chunk = [&g, chunk_rows](i64 t) {
    sgemm_eigen_rows(g, t * chunk_rows, std::min(g.M, (t + 1) * chunk_rows));
  };
  const double flops =
      2.0 * static_cast<double>(g.M) * static_cast<double>(g.N) * static_cast<double>(g.K);
  if (chunks <= 1 || flops < 2.0e6 || max_threads() <= 1) {
    for (i64 t = 0; t < chunks; ++t) run_chunk(t);
    return;
  }
  tsan::release(&tsan::kHandOff);  // core/tsan.hpp: tiles may run on another thread
  tbb::parallel_for(
      tbb::blocked_range<i64>(0, chunks, 1),
      [&run_chunk](const tbb::blocked_range<i64>& r) {
        tsan::acquire(&tsan::kHandOff);
        for (i64 t = r.begin(); t != r.end(); ++t) run_chunk(t);
        tsan::release(&tsan::kTaskDone);
      },
      tbb::simple_partitioner());
  tsan::acquire(&tsan::kTaskDone);
}

bool cpu_has_avx512() {
  static const bool has = [] {
#ifdef TANDEM_GEMM_DISABLE_AVX512  // testing hook: force the Eigen path
    return false;
#endif
    __builtin_cpu_init();
    // The kernels are compiled for all of these (GCC also checks that the OS
    // saves the zmm/opmask state).
    return __builtin_cpu_supports("avx512f") != 0 && __builtin_cpu_supports("avx512vl") != 0 &&
           __builtin_cpu_supports("avx512bw") != 0 && __builtin_cpu_supports("avx512dq") != 0 &&
           __builtin_cpu_supports("fma") != 0;
  }();
  return has;
}

// C = beta * C (beta == 0 writes zeros without reading C).
void scale_c(i64 M, i64 N, float beta, float* C, i64 ldc) {
  if (beta == 1.0f) return;
  for (i64 i = 0; i < M; ++i) {
    float* row = C + i * ldc;
    if (beta == 0.0f) {
      std::fill(row, row + N, 0.0f);
    } else {
      for (i64 j = 0; j < N; ++j) row[j] *= beta;
    }
  }
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
           const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
           std::int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  GemmArgs g{trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, k_block(K)};
  // Matrix-vector shapes (M == 1 or N == 1) waste most of the register tile
  // and are memory bound: Eigen's GEMV is 3-8x faster there.
  if (cpu_has_avx512() && M > 1 && N > 1) {
    sgemm_avx512(g);
  } else {
    sgemm_eigen(g);
  }
}

}  // namespace tandem::cpu
