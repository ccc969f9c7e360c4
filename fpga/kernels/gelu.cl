// GELU, forward and backward, in the tanh (GPT-2) and erf (BERT) forms.
//
//   gelu_tanh(x, out, n)                  out[i] = gelu_tanh(x[i])            x, out: (n) f32
//   gelu_erf(x, out, n)                   out[i] = gelu_erf(x[i])             x, out: (n) f32
//   gelu_tanh_backward(x, dout, dx, n)    dx[i] += gelu_tanh'(x[i])·dout[i]   x, dout, dx: (n) f32
//   gelu_erf_backward(x, dout, dx, n)     dx[i] += gelu_erf'(x[i])·dout[i]    x, dout, dx: (n) f32
//
// The math is the CPU backend's (host/backends/cpu/gelu.cpp), so both devices round alike:
//   tanh form: 0.5·(1 + tanh(u)) = σ(2u) from e = exp(−2|u|) <= 1, as 1/(1+e) for u >= 0 and
//     e/(1+e) otherwise, so the negative tail keeps its relative accuracy and nothing overflows;
//     0.5·(1 − tanh²u) = 2e/(1+e)².
//   erf form: Φ(x) = 0.5·erfc(−x/√2) with Numerical Recipes' erfcc Chebyshev fit (fractional error
//     < 1.2e-7 everywhere), for the same reason: 0.5·(1 + erf) would cancel for x < 0.
//
// Hardware: single-work-item kernels; compute unit c (work-group c) streams the c-th contiguous
// slice of the vectors, 16 floats (one 512-bit AXI beat) per iteration. Each lane is an
// independent exp/divide pipeline and the loop carries no dependency, so it pipelines at II = 1
// and a CU is bound by its memory ports (8 or 12 bytes per element) once the deep exp pipeline
// is full. The slice's ragged end goes through the same datapath from a zero-padded private
// beat, so there is one copy of the arithmetic.

#define VEC 16

#define GELU_A 0.044715f
#define SQRT_2_OVER_PI 0.7978845608028654f   // √(2/π)
#define INV_SQRT2 0.7071067811865476f        // 1/√2
#define INV_SQRT_2PI 0.3989422804014327f     // 1/√(2π)

// [lo, hi) of this compute unit's slice, rounded to whole beats so slices never share one.
static void cu_slice(int n, int* lo, int* hi) {
  const int cu = (int)get_group_id(0), ncu = (int)get_num_groups(0);
  const int vecs = (n + VEC - 1) / VEC;
  const int per = (vecs + ncu - 1) / ncu;
  *lo = min(n, cu * per * VEC);
  *hi = min(n, (cu + 1) * per * VEC);
}

// The first m (< VEC) elements of p, zero-padded to a beat.
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

// u = √(2/π)·(x + a·x³) and e = exp(−2|u|).
static float16 tanh_arg(float16 x) { return SQRT_2_OVER_PI * x * (1.0f + GELU_A * x * x); }

// σ(2u) = 0.5·(1 + tanh(u)) from e and r = 1/(1+e).
static float16 half_one_plus_tanh(float16 u, float16 e, float16 r) { return select(e * r, r, u >= 0.0f); }

static float16 gelu_tanh16(float16 x) {
  const float16 u = tanh_arg(x);
  const float16 e = exp(-2.0f * fabs(u));
  return x * half_one_plus_tanh(u, e, 1.0f / (1.0f + e));
}

static float16 gelu_tanh_grad16(float16 x) {
  const float16 u = tanh_arg(x);
  const float16 e = exp(-2.0f * fabs(u));
  const float16 r = 1.0f / (1.0f + e);
  // Once |x| >= 1e4 the second term is 0 in f32; the select keeps x² = inf from making 0·inf.
  const float16 term = (2.0f * SQRT_2_OVER_PI) * ((e * r * r) * x) * (1.0f + (3.0f * GELU_A) * x * x);
  return half_one_plus_tanh(u, e, r) + select((float16)0.0f, term, fabs(x) < 1e4f);
}

// Φ(x) through erfc(|x|/√2) = t·exp(−x²/2 + poly(t)), t = 1/(1 + |x|/(2√2)).
static float16 normal_cdf16(float16 x) {
  const float16 t = 1.0f / (1.0f + (0.5f * INV_SQRT2) * fabs(x));
  const float16 poly =
      -1.26551223f +
      t * (1.00002368f +
           t * (0.37409196f +
                t * (0.09678418f +
                     t * (-0.18628806f +
                          t * (0.27886807f +
                               t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
  const float16 half_erfc = 0.5f * t * exp(poly - 0.5f * x * x);
  return select(half_erfc, 1.0f - half_erfc, x > 0.0f);
}

static float16 gelu_erf16(float16 x) { return x * normal_cdf16(x); }

static float16 gelu_erf_grad16(float16 x) { return normal_cdf16(x) + x * exp(-0.5f * x * x) * INV_SQRT_2PI; }

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void gelu_tanh(__global const float* restrict x, __global float* restrict out, const int n) {
  int lo, hi;
  cu_slice(n, &lo, &hi);
  int i = lo;
  __attribute__((xcl_pipeline_loop(1)))
  for (; i + VEC <= hi; i += VEC) vstore16(gelu_tanh16(vload16(0, x + i)), 0, out + i);
  if (i < hi) store_tail(gelu_tanh16(load_tail(x + i, hi - i)), out + i, hi - i);
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void gelu_erf(__global const float* restrict x, __global float* restrict out, const int n) {
  int lo, hi;
  cu_slice(n, &lo, &hi);
  int i = lo;
  __attribute__((xcl_pipeline_loop(1)))
  for (; i + VEC <= hi; i += VEC) vstore16(gelu_erf16(vload16(0, x + i)), 0, out + i);
  if (i < hi) store_tail(gelu_erf16(load_tail(x + i, hi - i)), out + i, hi - i);
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void gelu_tanh_backward(__global const float* restrict x, __global const float* restrict dout,
                        __global float* restrict dx, const int n) {
  int lo, hi;
  cu_slice(n, &lo, &hi);
  int i = lo;
  __attribute__((xcl_pipeline_loop(1)))
  for (; i + VEC <= hi; i += VEC)
    vstore16(vload16(0, dx + i) + gelu_tanh_grad16(vload16(0, x + i)) * vload16(0, dout + i), 0, dx + i);
  if (i < hi) {
    const int m = hi - i;
    store_tail(load_tail(dx + i, m) + gelu_tanh_grad16(load_tail(x + i, m)) * load_tail(dout + i, m), dx + i, m);
  }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void gelu_erf_backward(__global const float* restrict x, __global const float* restrict dout,
                       __global float* restrict dx, const int n) {
  int lo, hi;
  cu_slice(n, &lo, &hi);
  int i = lo;
  __attribute__((xcl_pipeline_loop(1)))
  for (; i + VEC <= hi; i += VEC)
    vstore16(vload16(0, dx + i) + gelu_erf_grad16(vload16(0, x + i)) * vload16(0, dout + i), 0, dx + i);
  if (i < hi) {
    const int m = hi - i;
    store_tail(load_tail(dx + i, m) + gelu_erf_grad16(load_tail(x + i, m)) * load_tail(dout + i, m), dx + i, m);
  }
}
