// Row softmax over the last dimension, forward and backward (host/ops/softmax.hpp).
//
//   softmax_forward(x, out, N, C)
//       x, out: (N, C) f32.  out[n,c] = exp(x[n,c] - max_c x[n,:]) / sum_c' exp(x[n,c'] - max)
//       (-inf entries give exactly 0).
//   softmax_backward(y, dy, dx, N, C)
//       y, dy, dx: (N, C) f32.  dx[n,c] += y[n,c] * (dy[n,c] - sum_c' dy[n,c'] * y[n,c'])
//
// Hardware: single-work-item kernels; compute unit c (work-group c of the launch) takes rows
// c, c + CUs, c + 2·CUs, ... A row of up to ROW_MAX floats is burst-read once into on-chip
// RAM (32 KiB: 8 BRAM36 per buffer, banked 16 wide) and every pass over it (max, exp + sum, scale) reads the
// local copy, so global memory sees one read and one write per element. Longer rows (e.g.
// GPT-2's 50257-entry vocabulary) are streamed through the same buffer in ROW_MAX chunks, one
// global pass per softmax pass, with `out` holding the unnormalised exponentials in between.
// Element loops move one 512-bit beat (16 floats) per iteration and carry no dependency except
// the sums, which go into LANES independent accumulators (a partitioned register file), so
// they pipeline at II = 1; throughput is bound by the exp units (16 per CU) and, for streamed
// rows, by the memory port.
//
// Accuracy and determinism: sums are blocked — inside each block of SUM_BLOCK elements, LANES
// lane sums (element i to lane i mod LANES) are combined as a tree, then the block's ragged
// tail is added; block sums are added in row order — so the rounding error grows with
// C / SUM_BLOCK rather than C. ROW_MAX is a multiple of SUM_BLOCK, so a streamed row sums in
// exactly the order a resident row does, and a row is never split between CUs: results are
// bitwise the same for any CU count.

#define ROW_MAX 8192
#define SUM_BLOCK 256
#define LANES 16

// Rows of this CU: first row and stride.
#define CU_ROW0 ((int)get_group_id(0))
#define CU_ROWS ((int)get_num_groups(0))

// One 512-bit beat (16 floats) per iteration, as an AXI burst delivers them.
static void burst_load(__local float* restrict dst, __global const float* restrict src, int n) {
  int i = 0;
  __attribute__((xcl_pipeline_loop(1)))
  for (; i + LANES <= n; i += LANES) vstore16(vload16(0, src + i), 0, dst + i);
  for (; i < n; ++i) dst[i] = src[i];
}

// dst[i] = src[i] / d, 16 floats per beat.
static void store_scaled(__global float* restrict dst, __local const float* restrict src, int n, float d) {
  int i = 0;
  __attribute__((xcl_pipeline_loop(1)))
  for (; i + LANES <= n; i += LANES) vstore16(vload16(0, src + i) / d, 0, dst + i);
  for (; i < n; ++i) dst[i] = src[i] / d;
}

static float tree_sum(float16 v) {
  const float8 h8 = v.lo + v.hi;
  const float4 h4 = h8.lo + h8.hi;
  const float2 h2 = h4.lo + h4.hi;
  return h2.x + h2.y;
}

// Adds the blocked sum of a[0..n) to total, block by block: within a block, LANES lane sums
// (element i to lane i mod LANES) combined as a tree, then the block's ragged tail in order.
static float add_blocked_sum(float total, __local const float* a, int n) {
  for (int b0 = 0; b0 < n; b0 += SUM_BLOCK) {
    const int len = min(SUM_BLOCK, n - b0);
    float16 lane = (float16)(0.0f);
    int i = 0;
    __attribute__((xcl_pipeline_loop(1)))
    for (; i + LANES <= len; i += LANES) lane += vload16(0, a + b0 + i);
    float tail = 0.0f;
    for (; i < len; ++i) tail += a[b0 + i];
    total += tree_sum(lane) + tail;
  }
  return total;
}

// As add_blocked_sum for the products a[i] * b[i].
static float add_blocked_dot(float total, __local const float* a, __local const float* b, int n) {
  for (int b0 = 0; b0 < n; b0 += SUM_BLOCK) {
    const int len = min(SUM_BLOCK, n - b0);
    float16 lane = (float16)(0.0f);
    int i = 0;
    __attribute__((xcl_pipeline_loop(1)))
    for (; i + LANES <= len; i += LANES) lane += vload16(0, a + b0 + i) * vload16(0, b + b0 + i);
    float tail = 0.0f;
    for (; i < len; ++i) tail += a[b0 + i] * b[b0 + i];
    total += tree_sum(lane) + tail;
  }
  return total;
}

static float chunk_max(float mx, __local const float* a, int n) {
  float16 m = (float16)(mx);
  int i = 0;
  __attribute__((xcl_pipeline_loop(1)))
  for (; i + LANES <= n; i += LANES) m = fmax(m, vload16(0, a + i));
  const float8 m8 = fmax(m.lo, m.hi);
  const float4 m4 = fmax(m8.lo, m8.hi);
  const float2 m2 = fmax(m4.lo, m4.hi);
  mx = fmax(m2.x, m2.y);
  for (; i < n; ++i) mx = fmax(mx, a[i]);
  return mx;
}

// a[i] = exp(a[i] - mx), with -inf entries exactly 0 whatever the exp unit does with -inf.
static void exp_shifted(__local float* a, int n, float mx) {
  int i = 0;
  __attribute__((xcl_pipeline_loop(1)))
  for (; i + LANES <= n; i += LANES) {
    const float16 x = vload16(0, a + i);
    vstore16(select(exp(x - mx), (float16)(0.0f), x == (float16)(-INFINITY)), 0, a + i);
  }
  for (; i < n; ++i) a[i] = (a[i] == -INFINITY) ? 0.0f : exp(a[i] - mx);
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void softmax_forward(__global const float* restrict x, __global float* restrict out, const int N, const int C) {
  __local float buf[ROW_MAX];
  const bool resident = C <= ROW_MAX;
  for (int n = CU_ROW0; n < N; n += CU_ROWS) {
    __global const float* xr = x + (long)n * C;
    __global float* orow = out + (long)n * C;
    if (resident) burst_load(buf, xr, C);

    float mx = -INFINITY;
    for (int c0 = 0; c0 < C; c0 += ROW_MAX) {
      const int len = min(ROW_MAX, C - c0);
      if (!resident) burst_load(buf, xr + c0, len);
      mx = chunk_max(mx, buf, len);
    }

    float total = 0.0f;
    for (int c0 = 0; c0 < C; c0 += ROW_MAX) {
      const int len = min(ROW_MAX, C - c0);
      if (!resident) burst_load(buf, xr + c0, len);
      exp_shifted(buf, len, mx);
      total = add_blocked_sum(total, buf, len);
      if (!resident) store_scaled(orow + c0, buf, len, 1.0f);
    }

    for (int c0 = 0; c0 < C; c0 += ROW_MAX) {
      const int len = min(ROW_MAX, C - c0);
      if (!resident) burst_load(buf, orow + c0, len);
      store_scaled(orow + c0, buf, len, total);
    }
  }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void softmax_backward(__global const float* restrict y, __global const float* restrict dy,
                      __global float* restrict dx, const int N, const int C) {
  __local float ybuf[ROW_MAX];
  __local float gbuf[ROW_MAX];
  const bool resident = C <= ROW_MAX;
  for (int n = CU_ROW0; n < N; n += CU_ROWS) {
    const long r = (long)n * C;
    float dot = 0.0f;
    for (int c0 = 0; c0 < C; c0 += ROW_MAX) {
      const int len = min(ROW_MAX, C - c0);
      burst_load(ybuf, y + r + c0, len);
      burst_load(gbuf, dy + r + c0, len);
      dot = add_blocked_dot(dot, gbuf, ybuf, len);
    }
    for (int c0 = 0; c0 < C; c0 += ROW_MAX) {
      const int len = min(ROW_MAX, C - c0);
      if (!resident) {
        burst_load(ybuf, y + r + c0, len);
        burst_load(gbuf, dy + r + c0, len);
      }
      __global float* d = dx + r + c0;
      int i = 0;
      __attribute__((xcl_pipeline_loop(1)))
      for (; i + LANES <= len; i += LANES)
        vstore16(vload16(0, d + i) + vload16(0, ybuf + i) * (vload16(0, gbuf + i) - dot), 0, d + i);
      for (; i < len; ++i) d[i] += ybuf[i] * (gbuf[i] - dot);
    }
  }
}
