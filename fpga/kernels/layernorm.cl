// Row-wise LayerNorm, forward and backward (biased variance, as host/ops/layernorm.hpp).
//
//   layernorm_forward(x, weight, bias, out, mean, rstd, N, C, eps)
//       x, out: (N, C) f32   weight, bias: (C) f32   mean, rstd: (N) f32
//   layernorm_backward(dout, x, weight, mean, rstd, dx, part_w, part_b, N, C, R, has_w, has_b)
//       dout, x, dx: (N, C) f32   weight: (C)   mean, rstd: (N)
//       dx += rstd·(g − mean(g) − xhat·mean(g·xhat)),  g = dout·weight
//       part_w, part_b: (ceil(N/R), C) f32, block b = rows [b·R, b·R + R):
//       part_w[b,c] = Σ_{n in b} dout[n,c]·xhat[n,c],  part_b[b,c] = Σ_{n in b} dout[n,c]
//       (each written only when has_w / has_b; otherwise the argument is a dummy buffer)
//   layernorm_reduce_partials(part_w, part_b, dweight, dbias, blocks, C, has_w, has_b)
//       dweight[c] += Σ_b part_w[b,c],  dbias[c] += Σ_b part_b[b,c]   (in block order)
//
// Hardware: single-work-item kernels; work-group g of a launch is compute unit g.
// - forward: CU g normalises a contiguous slice of rows. A row is read from DDR once into a
//   BRAM row buffer (ROW_MAX floats, partitioned 16 ways) by a burst loop while the mean of
//   its deviations is summed; the variance and output passes read the buffer. Each pass is a
//   16-lane loop at II = 1 (the lane accumulators break the add's carried dependency), so a
//   row costs ≈ 3·C/16 clocks and the kernel is bound by reading x and writing out. Rows wider
//   than ROW_MAX are re-read from DDR in every pass instead (same results, more traffic).
// - backward: rows are cut into blocks of R rows, R ≈ √N chosen by the host from N alone;
//   CU g takes blocks g, g + CUs, ... For each row it buffers xhat and dout, sums the two row
//   means (16 lanes, II = 1), writes dx, and adds the row into its block's dweight/dbias
//   partial rows, which it owns (a burst read-modify-write per row). The reduce kernel then
//   adds the partials column by column in block order. Each column sum is thus taken in
//   the same order for any CU count: deterministic, no atomics, and ≈ √N terms per stage.
//
// Accuracy: as the CPU backend, the mean is taken of x − x[0] (exact for nearby values, so a
// row on a large offset keeps its spread's precision) and the variance in a second pass over
// the deviations (no cancellation).

#define VEC 16
#define ROW_MAX 8192

// [lo, hi) of this compute unit's share of n items, cut at multiples of unit so that the
// vector loops of neighbouring CUs never share a beat.
static void cu_share(int n, int unit, int* lo, int* hi) {
  const int cu = (int)get_group_id(0), ncu = (int)get_num_groups(0);
  const int units = (n + unit - 1) / unit;
  const int per = (units + ncu - 1) / ncu;
  *lo = min(n, cu * per * unit);
  *hi = min(n, (cu + 1) * per * unit);
}

// The 16 lane sums added in a fixed tree.
static float lanes_sum(float16 v) {
  const float8 a = v.lo + v.hi;
  const float4 b = a.lo + a.hi;
  const float2 c = b.lo + b.hi;
  return c.x + c.y;
}

// 16 entries of a row from the BRAM buffer when the row fits it, else from DDR.
static float16 row16(__local const float* buf, __global const float* src, int j, int cached) {
  return cached ? vload16(0, buf + j) : vload16(0, src + j);
}
static float row1(__local const float* buf, __global const float* src, int j, int cached) {
  return cached ? buf[j] : src[j];
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void layernorm_forward(__global const float* restrict x, __global const float* restrict weight,
                       __global const float* restrict bias, __global float* restrict out,
                       __global float* restrict mean, __global float* restrict rstd, const int N, const int C,
                       const float eps) {
  __local float xr[ROW_MAX] __attribute__((xcl_array_partition(cyclic, VEC, 1)));
  const int cached = C <= ROW_MAX;
  const float inv_c = 1.0f / (float)C;
  int r0, r1;
  cu_share(N, 1, &r0, &r1);
  for (int n = r0; n < r1; ++n) {
    __global const float* src = x + (long)n * C;
    __global float* dst = out + (long)n * C;
    const float x0 = src[0];

    float16 acc = 0.0f;
    float tail = 0.0f;
    int j = 0;
    __attribute__((xcl_pipeline_loop(1)))
    for (; j + VEC <= C; j += VEC) {
      const float16 v = vload16(0, src + j);
      if (cached) vstore16(v, 0, xr + j);
      acc += v - x0;
    }
    for (; j < C; ++j) {
      if (cached) xr[j] = src[j];
      tail += src[j] - x0;
    }
    const float d = (lanes_sum(acc) + tail) * inv_c;
    const float shift = x0 + d;  // = the mean; x − shift is taken as (x − x0) − d below

    acc = 0.0f;
    tail = 0.0f;
    j = 0;
    __attribute__((xcl_pipeline_loop(1)))
    for (; j + VEC <= C; j += VEC) {
      const float16 dev = (row16(xr, src, j, cached) - x0) - d;
      acc += dev * dev;
    }
    for (; j < C; ++j) {
      const float dev = (row1(xr, src, j, cached) - x0) - d;
      tail += dev * dev;
    }
    const float var = (lanes_sum(acc) + tail) * inv_c;
    const float rs = 1.0f / sqrt(var + eps);

    j = 0;
    __attribute__((xcl_pipeline_loop(1)))
    for (; j + VEC <= C; j += VEC) {
      const float16 dev = (row16(xr, src, j, cached) - x0) - d;
      vstore16(dev * rs * vload16(0, weight + j) + vload16(0, bias + j), 0, dst + j);
    }
    for (; j < C; ++j) dst[j] = ((row1(xr, src, j, cached) - x0) - d) * rs * weight[j] + bias[j];
    mean[n] = shift;
    rstd[n] = rs;
  }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void layernorm_backward(__global const float* restrict dout, __global const float* restrict x,
                        __global const float* restrict weight, __global const float* restrict mean,
                        __global const float* restrict rstd, __global float* restrict dx,
                        __global float* restrict part_w, __global float* restrict part_b, const int N, const int C,
                        const int R, const int has_w, const int has_b) {
  __local float xh[ROW_MAX] __attribute__((xcl_array_partition(cyclic, VEC, 1)));
  __local float gr[ROW_MAX] __attribute__((xcl_array_partition(cyclic, VEC, 1)));
  const int cached = C <= ROW_MAX;
  const float inv_c = 1.0f / (float)C;
  const int blocks = (N + R - 1) / R;
  for (int b = (int)get_group_id(0); b < blocks; b += (int)get_num_groups(0)) {
    const int r0 = b * R, r1 = min(N, r0 + R);
    __global float* pw = part_w + (long)b * C;
    __global float* pb = part_b + (long)b * C;
    for (int n = r0; n < r1; ++n) {
      __global const float* xs = x + (long)n * C;
      __global const float* gs = dout + (long)n * C;
      __global float* dxs = dx + (long)n * C;
      const float m = mean[n], rs = rstd[n];
      const int first = n == r0;  // the block's first row starts its partials

      float16 sg = 0.0f, sgx = 0.0f;
      float tg = 0.0f, tgx = 0.0f;
      int j = 0;
      __attribute__((xcl_pipeline_loop(1)))
      for (; j + VEC <= C; j += VEC) {
        const float16 xhat = (vload16(0, xs + j) - m) * rs;
        const float16 go = vload16(0, gs + j);
        const float16 g = go * vload16(0, weight + j);
        if (cached) {
          vstore16(xhat, 0, xh + j);
          vstore16(go, 0, gr + j);
        }
        sg += g;
        sgx += g * xhat;
        if (has_w) vstore16((first ? (float16)0.0f : vload16(0, pw + j)) + go * xhat, 0, pw + j);
        if (has_b) vstore16((first ? (float16)0.0f : vload16(0, pb + j)) + go, 0, pb + j);
      }
      for (; j < C; ++j) {
        const float xhat = (xs[j] - m) * rs;
        const float go = gs[j];
        const float g = go * weight[j];
        if (cached) {
          xh[j] = xhat;
          gr[j] = go;
        }
        tg += g;
        tgx += g * xhat;
        if (has_w) pw[j] = (first ? 0.0f : pw[j]) + go * xhat;
        if (has_b) pb[j] = (first ? 0.0f : pb[j]) + go;
      }
      const float g_mean = (lanes_sum(sg) + tg) * inv_c;
      const float gx_mean = (lanes_sum(sgx) + tgx) * inv_c;

      j = 0;
      __attribute__((xcl_pipeline_loop(1)))
      for (; j + VEC <= C; j += VEC) {
        const float16 xhat = cached ? vload16(0, xh + j) : (vload16(0, xs + j) - m) * rs;
        const float16 g = row16(gr, gs, j, cached) * vload16(0, weight + j);
        vstore16(vload16(0, dxs + j) + (g - g_mean - xhat * gx_mean) * rs, 0, dxs + j);
      }
      for (; j < C; ++j) {
        const float xhat = cached ? xh[j] : (xs[j] - m) * rs;
        const float g = row1(gr, gs, j, cached) * weight[j];
        dxs[j] += (g - g_mean - xhat * gx_mean) * rs;
      }
    }
  }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void layernorm_reduce_partials(__global const float* restrict part_w, __global const float* restrict part_b,
                               __global float* restrict dweight, __global float* restrict dbias, const int blocks,
                               const int C, const int has_w, const int has_b) {
  int c0, c1;
  cu_share(C, VEC, &c0, &c1);
  int c = c0;
  for (; c + VEC <= c1; c += VEC) {
    float16 sw = 0.0f, sb = 0.0f;
    __attribute__((xcl_pipeline_loop(1)))
    for (int b = 0; b < blocks; ++b) {
      if (has_w) sw += vload16(0, part_w + (long)b * C + c);
      if (has_b) sb += vload16(0, part_b + (long)b * C + c);
    }
    if (has_w) vstore16(vload16(0, dweight + c) + sw, 0, dweight + c);
    if (has_b) vstore16(vload16(0, dbias + c) + sb, 0, dbias + c);
  }
  for (; c < c1; ++c) {
    float sw = 0.0f, sb = 0.0f;
    for (int b = 0; b < blocks; ++b) {
      if (has_w) sw += part_w[(long)b * C + c];
      if (has_b) sb += part_b[(long)b * C + c];
    }
    if (has_w) dweight[c] += sw;
    if (has_b) dbias[c] += sb;
  }
}
