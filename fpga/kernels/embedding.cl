// Token (+ position) embedding, forward and backward.
//
//   embedding_forward(ids, wte, wpe, out, n, T, C, has_wpe)
//       out[r,:] = wte[ids[r],:] + wpe[r mod T,:]      ids (n = B·T) i32, wte (V, C), wpe (P, C), out (n, C)
//       (no position term when has_wpe == 0; wpe is then a dummy and never read)
//   embedding_backward_wte(order, start, ids, dout, dwte, groups, C)
//       for each group g: dwte[v,:] += Σ_{k in [start[g], start[g+1])} dout[order[k],:],  v = ids[order[start[g]]]
//       order (n) i32: the token positions stably sorted by id; start (groups + 1) i32: where each
//       distinct id's run begins. The host builds both (a sort of B·T ints).
//   embedding_backward_wpe(dout, dwpe, B, T, C)
//       dwpe[t,:] += Σ_b dout[b,t,:]                    dout (B, T, C), dwpe (P, C); rows t >= T untouched
//
// Why the backward sorts: tokens with the same id add into the same dwte row. Giving each
// compute unit whole rows (groups of equal ids) makes the scatter race-free without atomics, and
// each row is read once, accumulated in a private tile and written once, instead of a
// read-modify-write per token (which on an FPGA would be a loop-carried memory dependency
// whenever two neighbouring tokens share an id). Tokens are added in position order with
// compensated f32 sums (TwoSum error terms), about as accurate as the reference's double sums
// (on PoCL the results matched the reference bit for bit at GPT-2 sizes); the result does not
// depend on the CU count. The same tiling sums dwpe over the batch.
//
// Hardware: single-work-item kernels. Forward: CU c copies the c-th contiguous slice of rows,
// each row one C-float burst from wte (and wpe) into a burst to out, II = 1, bound by memory.
// Backward: CU c owns the c-th slice of groups (or of positions t for dwpe); a group is
// processed in TILE-channel tiles held in completely partitioned private arrays (registers), so
// the inner channel loop has a fixed trip count and pipelines at II = 1 with TILE compensated
// adders (7 f32 adds each, 2 of them carried from token to token, so consecutive tokens of a
// tile are spaced by the adder latency unless the tile is interleaved); each token row is one
// TILE-float burst. Bound by the dout reads (4 bytes per token-channel).

#pragma OPENCL FP_CONTRACT OFF  // the error-free additions must round each step as written

#define TILE 64

// [lo, hi) of this compute unit's share of @p count items.
static void cu_range(int count, int* lo, int* hi) {
  const int cu = (int)get_group_id(0), ncu = (int)get_num_groups(0);
  const int per = (count + ncu - 1) / ncu;
  *lo = min(count, cu * per);
  *hi = min(count, (cu + 1) * per);
}

// s + c += y, with c collecting the exact rounding error of every addition (Knuth's TwoSum), so
// the total s + c is rounded about once however many tokens share the row.
static void compensated_add(float* s, float* c, float y) {
  const float t = *s + y;
  const float z = t - *s;
  *c += (*s - (t - z)) + (y - z);
  *s = t;
}

// Once s is Inf or NaN the error terms are NaN and meaningless; s alone is the answer.
static float compensated_total(float s, float c) { return isfinite(s) ? s + c : s; }

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void embedding_forward(__global const int* restrict ids, __global const float* restrict wte,
                       __global const float* restrict wpe, __global float* restrict out, const int n, const int T,
                       const int C, const int has_wpe) {
  int lo, hi;
  cu_range(n, &lo, &hi);
  for (int r = lo; r < hi; ++r) {
    __global const float* tok = wte + (long)ids[r] * C;
    __global const float* pos = wpe + (long)(r % T) * C;
    __global float* dst = out + (long)r * C;
    if (has_wpe) {
      __attribute__((xcl_pipeline_loop(1)))
      for (int c = 0; c < C; ++c) dst[c] = tok[c] + pos[c];
    } else {
      __attribute__((xcl_pipeline_loop(1)))
      for (int c = 0; c < C; ++c) dst[c] = tok[c];
    }
  }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void embedding_backward_wte(__global const int* restrict order, __global const int* restrict start,
                            __global const int* restrict ids, __global const float* restrict dout,
                            __global float* restrict dwte, const int groups, const int C) {
  float acc[TILE] __attribute__((xcl_array_partition(complete, 1)));
  float comp[TILE] __attribute__((xcl_array_partition(complete, 1)));
  int lo, hi;
  cu_range(groups, &lo, &hi);
  for (int g = lo; g < hi; ++g) {
    const int k0 = start[g], k1 = start[g + 1];
    __global float* row = dwte + (long)ids[order[k0]] * C;
    for (int c0 = 0; c0 < C; c0 += TILE) {
      const int w = min(TILE, C - c0);
      __attribute__((xcl_pipeline_loop(1)))
      for (int j = 0; j < TILE; ++j) {
        acc[j] = j < w ? row[c0 + j] : 0.0f;
        comp[j] = 0.0f;
      }
      for (int k = k0; k < k1; ++k) {
        __global const float* src = dout + (long)order[k] * C + c0;
        __attribute__((xcl_pipeline_loop(1)))
        for (int j = 0; j < TILE; ++j)
          if (j < w) compensated_add(&acc[j], &comp[j], src[j]);
      }
      for (int j = 0; j < TILE; ++j)
        if (j < w) row[c0 + j] = compensated_total(acc[j], comp[j]);
    }
  }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void embedding_backward_wpe(__global const float* restrict dout, __global float* restrict dwpe, const int B,
                            const int T, const int C) {
  float acc[TILE] __attribute__((xcl_array_partition(complete, 1)));
  float comp[TILE] __attribute__((xcl_array_partition(complete, 1)));
  int lo, hi;
  cu_range(T, &lo, &hi);
  for (int t = lo; t < hi; ++t) {
    __global float* row = dwpe + (long)t * C;
    for (int c0 = 0; c0 < C; c0 += TILE) {
      const int w = min(TILE, C - c0);
      __attribute__((xcl_pipeline_loop(1)))
      for (int j = 0; j < TILE; ++j) {
        acc[j] = j < w ? row[c0 + j] : 0.0f;
        comp[j] = 0.0f;
      }
      for (int b = 0; b < B; ++b) {
        __global const float* src = dout + ((long)b * T + t) * C + c0;
        __attribute__((xcl_pipeline_loop(1)))
        for (int j = 0; j < TILE; ++j)
          if (j < w) compensated_add(&acc[j], &comp[j], src[j]);
      }
      for (int j = 0; j < TILE; ++j)
        if (j < w) row[c0 + j] = compensated_total(acc[j], comp[j]);
    }
  }
}
