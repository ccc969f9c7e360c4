// Inverted dropout, forward and backward, with the mask of host/ops/dropout.hpp.
//
//   dropout_forward(x, out, n, key, p, scale)      out[i] = keep(i) ? x[i]·scale : 0    x, out: (n) f32
//   dropout_backward(dout, dx, n, key, p, scale)   dx[i] += keep(i) ? dout[i]·scale : 0  dout, dx: (n) f32
//
//   key   = dropout_key(seed), computed once a call on the host (ulong)
//   scale = 1/(1 − p) rounded to f32 on the host, as the CPU backend does
//   keep(i): z = mix(key + (i + 1)·0x9E3779B97F4A7C15) with splitmix64's finaliser mix, and
//            keep = (z >> 40)·2⁻²⁴ >= p. All of it is wrapping 64-bit integer arithmetic and an
//            exact 24-bit to f32 conversion, so every device draws the CPU's mask bit for bit.
// A dropped element is written as exactly 0 even when its input is NaN or Inf.
//
// Hardware: single-work-item kernels; compute unit c (work-group c) streams the c-th contiguous
// slice, 16 elements (one 512-bit AXI beat) per iteration. The hash is 2 64-bit multiplies and
// 3 shift-xors per lane with no carried dependency (the index is a counter), so it pipelines at
// II = 1: 32 64×64-bit multipliers per CU, DSP-heavy (on the order of ten DSP slices each; only
// the top 24 bits of the last product are used, which a synthesis tool cannot exploit by
// itself). Throughput is bound by memory: 8 bytes per element forward, 12 backward.

#define VEC 16
#define GOLDEN 0x9E3779B97F4A7C15UL

static void cu_slice(int n, int* lo, int* hi) {
  const int cu = (int)get_group_id(0), ncu = (int)get_num_groups(0);
  const int vecs = (n + VEC - 1) / VEC;
  const int per = (vecs + ncu - 1) / ncu;
  *lo = min(n, cu * per * VEC);
  *hi = min(n, (cu + 1) * per * VEC);
}

static float16 load_tail(__global const float* p, int m) {
  float buf[VEC] __attribute__((xcl_array_partition(complete, 1)));
  for (int j = 0; j < VEC; ++j) buf[j] = j < m ? p[j] : 0.0f;
  return vload16(0, buf);
}

static void store_tail(float16 v, __global float* p, int m) {
  float buf[VEC] __attribute__((xcl_array_partition(complete, 1)));
  vstore16(v, 0, buf);
  for (int j = 0; j < VEC; ++j)
    if (j < m) p[j] = buf[j];
}

// splitmix64's finaliser (Steele, Lea & Flood 2014), lane-wise.
static ulong16 mix16(ulong16 z) {
  z ^= z >> 30;
  z *= 0xBF58476D1CE4E5B9UL;
  z ^= z >> 27;
  z *= 0x94D049BB133111EBUL;
  z ^= z >> 31;
  return z;
}

// x·scale where elements first .. first+15 are kept, else 0 (a select, so NaN·0 never happens).
static float16 apply_mask16(float16 x, int first, ulong key, float p, float scale) {
  const ulong16 lane = (ulong16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const ulong16 index = (ulong16)((ulong)first) + lane;
  const ulong16 z = mix16(key + (index + 1UL) * GOLDEN);
  const float16 u = convert_float16(convert_uint16(z >> 40)) * 0x1p-24f;
  return select((float16)0.0f, x * scale, u >= p);
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void dropout_forward(__global const float* restrict x, __global float* restrict out, const int n, const ulong key,
                     const float p, const float scale) {
  int lo, hi;
  cu_slice(n, &lo, &hi);
  int i = lo;
  __attribute__((xcl_pipeline_loop(1)))
  for (; i + VEC <= hi; i += VEC) vstore16(apply_mask16(vload16(0, x + i), i, key, p, scale), 0, out + i);
  if (i < hi) store_tail(apply_mask16(load_tail(x + i, hi - i), i, key, p, scale), out + i, hi - i);
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void dropout_backward(__global const float* restrict dout, __global float* restrict dx, const int n,
                      const ulong key, const float p, const float scale) {
  int lo, hi;
  cu_slice(n, &lo, &hi);
  int i = lo;
  __attribute__((xcl_pipeline_loop(1)))
  for (; i + VEC <= hi; i += VEC)
    vstore16(vload16(0, dx + i) + apply_mask16(vload16(0, dout + i), i, key, p, scale), 0, dx + i);
  if (i < hi) {
    const int m = hi - i;
    store_tail(load_tail(dx + i, m) + apply_mask16(load_tail(dout + i, m), i, key, p, scale), dx + i, m);
  }
}
