// General matrix multiply, the one kernel behind matmul (forward and backward) and LoRA.
//
//   gemm(a, b, c, trans_a, trans_b, m, n, k, alpha, beta, batch, stride_a, stride_b, stride_c)
//     for each batch entry e:  C_e = alpha · op(A_e) · op(B_e) + beta · C_e
//     a: A_e at a + e·stride_a, (m, k) row-major, or (k, m) when trans_a
//     b: B_e at b + e·stride_b, (k, n) row-major, or (n, k) when trans_b; stride_b = 0 shares
//        one B across the batch (a linear layer's weight)
//     c: C_e at c + e·stride_c, (m, n) row-major. stride_c = 0 with batch > 1 REDUCES:
//        C = alpha · Σ_e op(A_e)·op(B_e) + beta · C, summed in batch order (a shared weight's
//        gradient)
//     beta == 0: C is not read (it may hold NaN). m, n, k, batch are int; strides and element
//     offsets are long, since a batch of entries can pass 2^31 elements.
//
// Hardware mapping (a blocked, systolic-style design):
//   - The output is cut into TM x TN tiles (256 x 256). Compute unit c (work-group c of the
//     launch; the host launches as many as there are tiles on an emulator, or the card's CU
//     count) takes tiles c, c + CUs, ...; tiles are independent, so CUs never share writes.
//   - Per tile, K is walked in TK = 256 deep blocks. Burst loops copy the A block (TM x TK) and
//     the B block (TK x TN) from global memory into __local buffers, transposing on the way so
//     every form (NN, NT, TN, TT) feeds the same datapath: A packed as MR-row strips laid out
//     [k][MR], B as NR-column strips laid out [k][NR]. Rows/columns past the matrix edge are
//     packed as zeros, so the datapath has no edge cases; only the write-back is masked.
//   - The datapath is an MR x NR = 8 x 32 outer-product array: per k step it reads MR values of
//     A and NR of B and does MR·NR multiply-adds into 16 float16 accumulators, all fully
//     unrolled (the processing elements of the systolic array). The k loop has a fixed body, a
//     trip count of at most TK (kc < TK only in the last block), and no carried dependency
//     other than the accumulators, so it pipelines at II = 1: 256 MACs per clock per CU. Each
//     K block's partial sums are added to a TM x TN __local accumulator tile; after the last
//     block the tile is scaled by alpha, blended with beta·C, and written out in 16-float bursts.
//   - On-chip memory per CU: A and B blocks and the accumulator tile, 3 x 256 KB of __local
//     (block RAM / URAM on a card; PoCL offers 1 MB per work-group). The tile sizes were
//     picked on PoCL: 256 x 256 x 256 beat 128 x 256 x 128 by ~10% per core because each
//     gathered (transposing) block load is reused across twice as many outputs.
//   - Throughput is bound by the MAC array (DSPs) when TK·TN and TK·TM are large enough that
//     the block loads (one A block per K block, reused across TN; one B block, reused across TM)
//     hide behind compute; on PoCL it is bound by the FMA rate of one core per CU, as the
//     float16 accumulators map to AVX-512 registers.
//
// Accuracy: every output is a blocked sum: a TK-term FMA chain per K block, started from zero,
// then the block sums added in order (and batch entries in order when reducing), so the error
// grows with TK + K/TK rather than K. The order depends only on TK, never on the number of CUs
// or the launch size, so results are deterministic.

#define MR 8     // datapath rows
#define NR 32    // datapath columns: two float16 lanes
#define TM 256   // output tile rows (multiple of MR)
#define TN 256   // output tile columns (multiple of NR)
#define TK 256   // K block depth

// Copies the A block rows [i0, i0+mc) x depth [k0, k0+kc) of one batch entry into MR-row strips
// ap[strip][kk][r], zero-filling rows past mc up to the strip boundary.
static void load_a_block(__global const float* restrict a, const int trans_a, const long lda, const int i0,
                         const int mc, const int k0, const int kc, __local float* restrict ap) {
  const int rows = (mc + MR - 1) / MR * MR;
  if (trans_a) {
    // A stored (k, m): each k is a contiguous run of rows, one burst per k, 8 floats per beat.
    const int full = mc / MR * MR;
    for (int kk = 0; kk < kc; ++kk) {
      __global const float* src = a + (long)(k0 + kk) * lda + i0;
      __attribute__((xcl_pipeline_loop(1)))
      for (int i = 0; i < full; i += MR) vstore8(vload8(0, src + i), 0, ap + (i / MR) * (TK * MR) + kk * MR);
      for (int i = full; i < rows; ++i) ap[(i / MR) * (TK * MR) + kk * MR + i % MR] = i < mc ? src[i] : 0.0f;
    }
  } else {
    // A stored (m, k): the MR rows of a strip are read side by side, one float8 per k.
    for (int s = 0; s < rows / MR; ++s) {
      __local float* dst = ap + s * (TK * MR);
      if (s * MR + MR <= mc) {
        __global const float* p = a + (long)(i0 + s * MR) * lda + k0;
        __attribute__((xcl_pipeline_loop(1)))
        for (int kk = 0; kk < kc; ++kk)
          vstore8((float8)(p[kk], p[lda + kk], p[2 * lda + kk], p[3 * lda + kk], p[4 * lda + kk], p[5 * lda + kk],
                           p[6 * lda + kk], p[7 * lda + kk]),
                  0, dst + kk * MR);
      } else {
        for (int r = 0; r < MR; ++r) {
          const int i = s * MR + r;
          __global const float* src = a + (long)(i0 + i) * lda + k0;
          for (int kk = 0; kk < kc; ++kk) dst[kk * MR + r] = i < mc ? src[kk] : 0.0f;
        }
      }
    }
  }
}

// Copies the B block depth [k0, k0+kc) x columns [j0, j0+nc) of one batch entry into NR-column
// strips bp[strip][kk][j], zero-filling columns past nc up to the strip boundary.
static void load_b_block(__global const float* restrict b, const int trans_b, const long ldb, const int j0,
                         const int nc, const int k0, const int kc, __local float* restrict bp) {
  const int cols = (nc + NR - 1) / NR * NR;
  if (trans_b) {
    // B stored (n, k): 16 columns of op(B) are read side by side, one float16 per k.
    const int full = nc / 16 * 16;
    for (int j = 0; j < full; j += 16) {
      __global const float* p = b + (long)(j0 + j) * ldb + k0;
      __local float* dst = bp + (j / NR) * (TK * NR) + j % NR;
      __attribute__((xcl_pipeline_loop(1)))
      for (int kk = 0; kk < kc; ++kk)
        vstore16((float16)(p[kk], p[ldb + kk], p[2 * ldb + kk], p[3 * ldb + kk], p[4 * ldb + kk], p[5 * ldb + kk],
                           p[6 * ldb + kk], p[7 * ldb + kk], p[8 * ldb + kk], p[9 * ldb + kk], p[10 * ldb + kk],
                           p[11 * ldb + kk], p[12 * ldb + kk], p[13 * ldb + kk], p[14 * ldb + kk], p[15 * ldb + kk]),
                 0, dst + kk * NR);
    }
    for (int j = full; j < cols; ++j) {
      __local float* dst = bp + (j / NR) * (TK * NR) + j % NR;
      __global const float* src = b + (long)(j0 + j) * ldb + k0;
      for (int kk = 0; kk < kc; ++kk) dst[kk * NR] = j < nc ? src[kk] : 0.0f;
    }
  } else {
    // B stored (k, n): each k is a contiguous run of columns; full strips move as float16 beats.
    for (int kk = 0; kk < kc; ++kk) {
      __global const float* src = b + (long)(k0 + kk) * ldb + j0;
      int j = 0;
      __attribute__((xcl_pipeline_loop(1)))
      for (; j + 16 <= nc; j += 16) vstore16(vload16(0, src + j), 0, bp + (j / NR) * (TK * NR) + kk * NR + j % NR);
      for (; j < cols; ++j) bp[(j / NR) * (TK * NR) + kk * NR + j % NR] = j < nc ? src[j] : 0.0f;
    }
  }
}

// The MR x NR datapath over one K block of kc steps: the block's partial sums start from zero
// and are added to the MR rows of ct (row stride TN) at the end, so each output is a sum of
// block sums rather than one long chain.
static void datapath(__local const float* restrict ap, __local const float* restrict bp, const int kc,
                     __local float* restrict ct) {
  float16 acc0[MR] __attribute__((xcl_array_partition(complete, 1)));
  float16 acc1[MR] __attribute__((xcl_array_partition(complete, 1)));
#pragma unroll
  for (int r = 0; r < MR; ++r) {
    acc0[r] = (float16)(0.0f);
    acc1[r] = (float16)(0.0f);
  }
  __attribute__((xcl_pipeline_loop(1)))
  for (int kk = 0; kk < kc; ++kk) {
    const float16 b0 = vload16(0, bp + kk * NR);
    const float16 b1 = vload16(0, bp + kk * NR + 16);
#pragma unroll
    for (int r = 0; r < MR; ++r) {
      const float16 av = (float16)(ap[kk * MR + r]);
      acc0[r] = fma(av, b0, acc0[r]);
      acc1[r] = fma(av, b1, acc1[r]);
    }
  }
#pragma unroll
  for (int r = 0; r < MR; ++r) {
    vstore16(vload16(0, ct + r * TN) + acc0[r], 0, ct + r * TN);
    vstore16(vload16(0, ct + r * TN + 16) + acc1[r], 0, ct + r * TN + 16);
  }
}

// c rows [i0, i0+mc) x columns [j0, j0+nc) = alpha · ct + beta · c.
static void store_tile(__local const float* restrict ct, const float alpha, const float beta, const int n,
                       const int i0, const int mc, const int j0, const int nc, __global float* restrict c) {
  for (int i = 0; i < mc; ++i) {
    __global float* dst = c + (long)(i0 + i) * n + j0;
    __local const float* src = ct + i * TN;
    int j = 0;
    if (beta == 0.0f) {
      __attribute__((xcl_pipeline_loop(1)))
      for (; j + 16 <= nc; j += 16) vstore16(alpha * vload16(0, src + j), 0, dst + j);
      for (; j < nc; ++j) dst[j] = alpha * src[j];
    } else {
      __attribute__((xcl_pipeline_loop(1)))
      for (; j + 16 <= nc; j += 16) vstore16(alpha * vload16(0, src + j) + beta * vload16(0, dst + j), 0, dst + j);
      for (; j < nc; ++j) dst[j] = alpha * src[j] + beta * dst[j];
    }
  }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void gemm(__global const float* restrict a, __global const float* restrict b, __global float* restrict c,
          const int trans_a, const int trans_b, const int m, const int n, const int k, const float alpha,
          const float beta, const int batch, const ulong stride_a, const ulong stride_b, const ulong stride_c) {
  __local float ap[TM * TK];  // A block, MR-row strips
  __local float bp[TK * TN];  // B block, NR-column strips
  __local float ct[TM * TN];  // accumulator tile

  const bool reduce = stride_c == 0 && batch > 1;
  const int tiles_m = (m + TM - 1) / TM, tiles_n = (n + TN - 1) / TN;
  const int per_entry = tiles_m * tiles_n;
  const int tiles = (reduce ? 1 : batch) * per_entry;
  const long lda = trans_a ? m : k, ldb = trans_b ? k : n;

  for (int t = (int)get_group_id(0); t < tiles; t += (int)get_num_groups(0)) {
    const int entry = t / per_entry, ti = (t % per_entry) / tiles_n, tj = t % tiles_n;
    const int i0 = ti * TM, j0 = tj * TN;
    const int mc = min(TM, m - i0), nc = min(TN, n - j0);
    const int strips_m = (mc + MR - 1) / MR, strips_n = (nc + NR - 1) / NR;

    // Only the strips the datapath touches: a thin product (LoRA's rank 8) uses a corner.
    for (int i = 0; i < strips_m * MR; ++i)
      for (int j = 0; j < strips_n * NR; j += 16) vstore16((float16)(0.0f), 0, ct + i * TN + j);

    const int e_lo = reduce ? 0 : entry, e_hi = reduce ? batch : entry + 1;
    for (int e = e_lo; e < e_hi; ++e) {
      __global const float* ae = a + e * stride_a;
      __global const float* be = b + e * stride_b;
      for (int k0 = 0; k0 < k; k0 += TK) {
        const int kc = min(TK, k - k0);
        load_a_block(ae, trans_a, lda, i0, mc, k0, kc, ap);
        load_b_block(be, trans_b, ldb, j0, nc, k0, kc, bp);
        for (int sj = 0; sj < strips_n; ++sj)
          for (int si = 0; si < strips_m; ++si)
            datapath(ap + si * (TK * MR), bp + sj * (TK * NR), kc, ct + si * MR * TN + sj * NR);
      }
    }
    store_tile(ct, alpha, beta, n, i0, mc, j0, nc, c + (reduce ? 0 : entry * stride_c));
  }
}
