// Optimizer kernels: squared-norm partials for grad_norm, in-place scaling for clip_grad_norm,
// and a fused AdamW step guarded by a non-finite-gradient check.
//
//   grad_sum_squares(x, partial, n)      partial[k] = Σ_{i in block k} x[i]²   x (n) f32,
//                                        partial (ceil(n / SQ_BLOCK)) f32; the host adds the
//                                        partials of every tensor in double, in order
//   grad_scale(x, n, factor)             x[i] *= factor                         x (n) f32
//   adamw_check(grad, bad, n)            bad[cu] = 1 if the CU's slice of grad holds NaN or Inf,
//                                        else 0                                 grad (n), bad (CUs) f32
//   adamw_step(param, grad, m, v, bad, nbad, n, b1, omb1, b2, omb2, decay, step_size, inv_sqrt_bc2, eps)
//       when every bad[0..nbad) is 0, for each i (PyTorch's AdamW order, host/ops/optimizer.hpp):
//         m = fma(m, b1, omb1·g);  v = fma(v, b2, omb2·g²)
//         p = fma(−m / fma(√v, inv_sqrt_bc2, eps), step_size, p·decay)
//       with the scalars rounded to f32 from op::adamw_scalars, and the same fma placement as the
//       CPU backend, so the two devices agree to the last bit where sqrt and divide are IEEE.
//       Otherwise it writes nothing: the host sees the flag after the op and raises the
//       "grad contains NaN or Inf" error with param, m and v untouched, without waiting for
//       the check between the two kernels.
//
// Determinism: a tensor's sum of squares is cut into fixed SQ_BLOCK-element blocks whatever
// the CU count; within a block, 16 lanes each add SQ_BLOCK/16 squares in order and the lanes
// are added pairwise. Partials are f32: squares of |x| > ~1.8e19 overflow to Inf, where the
// double reference would not.
//
// Hardware: single-work-item kernels; compute unit c takes the c-th contiguous slice (blocks
// for grad_sum_squares), 16 floats (one 512-bit AXI beat) per stream per iteration. The AdamW
// lanes carry no dependency and pipeline at II = 1 (the divide and sqrt cores are deep but
// pipelined), so a CU moves 28 bytes per parameter (read p, g, m, v, write p, m, v) plus 4 for
// the check and is bound by memory; with one bank per stream a CU needs 4 read and 3 write
// ports. grad_sum_squares carries its 16 lane accumulators from beat to beat, so on hardware its
// II is the f32 adder latency (a few cycles) unless the sum is interleaved over more partials;
// that would change the rounding, so the lane count is fixed and every device adds alike. It
// reads 4 bytes per parameter, a seventh of AdamW's traffic.

#define VEC 16
#define SQ_BLOCK 256

static void cu_slice(int n, int* lo, int* hi) {
  const int cu = (int)get_group_id(0), ncu = (int)get_num_groups(0);
  const int vecs = (n + VEC - 1) / VEC;
  const int per = (vecs + ncu - 1) / ncu;
  *lo = min(n, cu * per * VEC);
  *hi = min(n, (cu + 1) * per * VEC);
}

static void cu_range(int count, int* lo, int* hi) {
  const int cu = (int)get_group_id(0), ncu = (int)get_num_groups(0);
  const int per = (count + ncu - 1) / ncu;
  *lo = min(count, cu * per);
  *hi = min(count, (cu + 1) * per);
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

// The 16 lanes added pairwise: ((l0+l1)+(l2+l3))+... in a fixed tree.
static float sum_lanes(float16 a) {
  const float8 s8 = a.lo + a.hi;
  const float4 s4 = s8.lo + s8.hi;
  const float2 s2 = s4.lo + s4.hi;
  return s2.x + s2.y;
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void grad_sum_squares(__global const float* restrict x, __global float* restrict partial, const int n) {
  const int blocks = (n + SQ_BLOCK - 1) / SQ_BLOCK;
  int lo, hi;
  cu_range(blocks, &lo, &hi);
  for (int k = lo; k < hi; ++k) {
    const int b0 = k * SQ_BLOCK, b1 = min(n, b0 + SQ_BLOCK);
    float16 acc = (float16)0.0f;
    int i = b0;
    __attribute__((xcl_pipeline_loop(1)))
    for (; i + VEC <= b1; i += VEC) {
      const float16 v = vload16(0, x + i);
      acc += v * v;
    }
    if (i < b1) {
      const float16 v = load_tail(x + i, b1 - i);
      acc += v * v;
    }
    partial[k] = sum_lanes(acc);
  }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void grad_scale(__global float* restrict x, const int n, const float factor) {
  int lo, hi;
  cu_slice(n, &lo, &hi);
  int i = lo;
  __attribute__((xcl_pipeline_loop(1)))
  for (; i + VEC <= hi; i += VEC) vstore16(vload16(0, x + i) * factor, 0, x + i);
  if (i < hi) store_tail(load_tail(x + i, hi - i) * factor, x + i, hi - i);
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void adamw_check(__global const float* restrict grad, __global float* restrict bad, const int n) {
  int lo, hi;
  cu_slice(n, &lo, &hi);
  int16 ok = (int16)(-1);
  int i = lo;
  __attribute__((xcl_pipeline_loop(1)))
  for (; i + VEC <= hi; i += VEC) ok &= isfinite(vload16(0, grad + i));
  if (i < hi) ok &= isfinite(load_tail(grad + i, hi - i));  // the zero padding is finite
  bad[get_group_id(0)] = all(ok) ? 0.0f : 1.0f;
}

// One AdamW step on 16 lanes; p, m, v are updated in place.
static void adamw16(float16* p, float16 g, float16* m, float16* v, float b1, float omb1, float b2, float omb2,
                    float decay, float step_size, float inv_sqrt_bc2, float eps) {
  const float16 mi = fma(*m, (float16)b1, omb1 * g);
  const float16 vi = fma(*v, (float16)b2, omb2 * (g * g));
  const float16 denom = fma(sqrt(vi), (float16)inv_sqrt_bc2, (float16)eps);
  *p = fma(-(mi / denom), (float16)step_size, *p * decay);
  *m = mi;
  *v = vi;
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void adamw_step(__global float* restrict param, __global const float* restrict grad, __global float* restrict m,
                __global float* restrict v, __global const float* restrict bad, const int nbad, const int n,
                const float b1, const float omb1, const float b2, const float omb2, const float decay,
                const float step_size, const float inv_sqrt_bc2, const float eps) {
  for (int k = 0; k < nbad; ++k)
    if (bad[k] != 0.0f) return;
  int lo, hi;
  cu_slice(n, &lo, &hi);
  int i = lo;
  __attribute__((xcl_pipeline_loop(1)))
  for (; i + VEC <= hi; i += VEC) {
    float16 pi = vload16(0, param + i), mi = vload16(0, m + i), vi = vload16(0, v + i);
    adamw16(&pi, vload16(0, grad + i), &mi, &vi, b1, omb1, b2, omb2, decay, step_size, inv_sqrt_bc2, eps);
    vstore16(pi, 0, param + i);
    vstore16(mi, 0, m + i);
    vstore16(vi, 0, v + i);
  }
  if (i < hi) {
    const int r = hi - i;
    float16 pi = load_tail(param + i, r), mi = load_tail(m + i, r), vi = load_tail(v + i, r);
    adamw16(&pi, load_tail(grad + i, r), &mi, &vi, b1, omb1, b2, omb2, decay, step_size, inv_sqrt_bc2, eps);
    store_tail(pi, param + i, r);
    store_tail(mi, m + i, r);
    store_tail(vi, v + i, r);
  }
}
