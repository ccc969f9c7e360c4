// Bias add (broadcast over rows) and its backward (column sums).
//
//   bias_add(x, bias, out, N, C)                    out[n,c] = x[n,c] + bias[c]
//       x, out: (N, C) f32    bias: (C) f32
//   bias_column_partials(dout, partial, N, C, R)    partial[b,c] = Σ_{n in block b} dout[n,c]
//       dout: (N, C) f32      partial: (ceil(N/R), C) f32, block b = rows [b·R, b·R + R)
//   bias_reduce_partials(partial, dbias, blocks, C) dbias[c] += Σ_b partial[b,c]
//       partial: (blocks, C)  dbias: (C) f32
//
// Hardware: single-work-item kernels; work-group g of a launch is compute unit g.
// - bias_add: CU g streams a contiguous slice of rows. The bias is read one column tile
//   (TILE floats, a BRAM buffer partitioned 16 ways) at a time with a burst loop and reused
//   for every row of the slice, so the inner loop reads only x: II = 1 at 16 floats (one
//   512-bit beat) per clock, bound by the memory ports.
// - bias_backward is two launches. Rows are cut into blocks of R rows, R chosen by the host
//   from N alone; CU g sums blocks g, g + CUs, ... one column tile at a time into a BRAM
//   accumulator (the carried dependency is per column, across rows, so the column loop still
//   pipelines at II = 1). The second kernel adds the block partials column by column in
//   block order. Every sum is therefore taken in the same order whatever the CU count:
//   deterministic, no atomics. With R ≈ √N both stages add ≈ √N terms, which keeps the fp32
//   rounding error ≈ √N·ε of the column's magnitude instead of N·ε.

#define VEC 16
#define TILE 1024

// [lo, hi) of this compute unit's share of n items, cut at multiples of unit so that
// vector loops of neighbouring CUs never share a beat.
static void cu_share(int n, int unit, int* lo, int* hi) {
  const int cu = (int)get_group_id(0), ncu = (int)get_num_groups(0);
  const int units = (n + unit - 1) / unit;
  const int per = (units + ncu - 1) / ncu;
  *lo = min(n, cu * per * unit);
  *hi = min(n, (cu + 1) * per * unit);
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void bias_add(__global const float* restrict x, __global const float* restrict bias, __global float* restrict out,
              const int N, const int C) {
  __local float tile[TILE] __attribute__((xcl_array_partition(cyclic, VEC, 1)));
  int r0, r1;
  cu_share(N, 1, &r0, &r1);
  for (int c0 = 0; c0 < C; c0 += TILE) {
    const int w = min(TILE, C - c0);
    __attribute__((xcl_pipeline_loop(1)))
    for (int j = 0; j < w; ++j) tile[j] = bias[c0 + j];
    for (int n = r0; n < r1; ++n) {
      const long base = (long)n * C + c0;
      int j = 0;
      __attribute__((xcl_pipeline_loop(1)))
      for (; j + VEC <= w; j += VEC) vstore16(vload16(0, x + base + j) + vload16(0, tile + j), 0, out + base + j);
      for (; j < w; ++j) out[base + j] = x[base + j] + tile[j];
    }
  }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void bias_column_partials(__global const float* restrict dout, __global float* restrict partial, const int N,
                          const int C, const int R) {
  __local float acc[TILE] __attribute__((xcl_array_partition(cyclic, VEC, 1)));
  const int blocks = (N + R - 1) / R;
  for (int b = (int)get_group_id(0); b < blocks; b += (int)get_num_groups(0)) {
    const int r0 = b * R, r1 = min(N, r0 + R);
    for (int c0 = 0; c0 < C; c0 += TILE) {
      const int w = min(TILE, C - c0);
      __attribute__((xcl_pipeline_loop(1)))
      for (int j = 0; j < w; ++j) acc[j] = 0.0f;
      for (int n = r0; n < r1; ++n) {
        const long base = (long)n * C + c0;
        int j = 0;
        __attribute__((xcl_pipeline_loop(1)))
        for (; j + VEC <= w; j += VEC) vstore16(vload16(0, acc + j) + vload16(0, dout + base + j), 0, acc + j);
        for (; j < w; ++j) acc[j] += dout[base + j];
      }
      const long dst = (long)b * C + c0;
      __attribute__((xcl_pipeline_loop(1)))
      for (int j = 0; j < w; ++j) partial[dst + j] = acc[j];
    }
  }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void bias_reduce_partials(__global const float* restrict partial, __global float* restrict dbias, const int blocks,
                          const int C) {
  int c0, c1;
  cu_share(C, VEC, &c0, &c1);
  int c = c0;
  for (; c + VEC <= c1; c += VEC) {
    float16 s = 0.0f;
    __attribute__((xcl_pipeline_loop(1)))
    for (int b = 0; b < blocks; ++b) s += vload16(0, partial + (long)b * C + c);
    vstore16(vload16(0, dbias + c) + s, 0, dbias + c);
  }
  for (; c < c1; ++c) {
    float s = 0.0f;
    for (int b = 0; b < blocks; ++b) s += partial[(long)b * C + c];
    dbias[c] += s;
  }
}
