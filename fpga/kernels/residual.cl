// Residual connection, forward and backward.
//
//   residual_add(a, b, out, n)            out[i] = a[i] + b[i]          a, b, out: (n) f32
//   residual_add_backward(dout, da, db,   da[i] += dout[i] (if has_da)  dout, da, db: (n) f32
//                         n, has_da, has_db)  db[i] += dout[i] (if has_db)
//
// Hardware: single-work-item kernels; compute unit c (= work-group c of the launch) streams
// the c-th contiguous slice of the vectors, 16 floats (one 512-bit AXI beat) per iteration.
// The loop has no carried dependency, so it pipelines at II = 1: one beat per clock per CU,
// bound by the memory ports rather than by arithmetic.

#define VEC 16

// [lo, hi) of this compute unit's slice, rounded to whole vectors so slices never share one.
static void cu_slice(int n, int* lo, int* hi) {
  const int cu = (int)get_group_id(0), ncu = (int)get_num_groups(0);
  const int vecs = (n + VEC - 1) / VEC;
  const int per = (vecs + ncu - 1) / ncu;
  *lo = min(n, cu * per * VEC);
  *hi = min(n, (cu + 1) * per * VEC);
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void residual_add(__global const float* restrict a, __global const float* restrict b,
                  __global float* restrict out, const int n) {
  int lo, hi;
  cu_slice(n, &lo, &hi);
  int i = lo;
  __attribute__((xcl_pipeline_loop(1)))
  for (; i + VEC <= hi; i += VEC) vstore16(vload16(0, a + i) + vload16(0, b + i), 0, out + i);
  for (; i < hi; ++i) out[i] = a[i] + b[i];
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void residual_add_backward(__global const float* restrict dout, __global float* restrict da,
                           __global float* restrict db, const int n, const int has_da, const int has_db) {
  int lo, hi;
  cu_slice(n, &lo, &hi);
  int i = lo;
  __attribute__((xcl_pipeline_loop(1)))
  for (; i + VEC <= hi; i += VEC) {
    const float16 g = vload16(0, dout + i);
    if (has_da) vstore16(vload16(0, da + i) + g, 0, da + i);
    if (has_db) vstore16(vload16(0, db + i) + g, 0, db + i);
  }
  for (; i < hi; ++i) {
    if (has_da) da[i] += dout[i];
    if (has_db) db[i] += dout[i];
  }
}
