// Cross-entropy of rows of logits against integer targets (host/ops/cross_entropy.hpp).
//
//   cross_entropy_rows(logits, lse, N, V)
//       logits: (N, V) f32   lse: (N) f32, lse[i] = log Σ_j exp(logits[i,j]);
//       lse[i] = NaN when row i holds a NaN or Inf (the flag the total kernel reports)
//   cross_entropy_total(logits, targets, lse, loss, status, N, V, ignore_index)
//       targets: (N) i32   loss: (1) f32 = mean over non-ignored rows of lse[i] − logits[i, t[i]]
//       (0 when every row is ignored)   status: (1) f32 = 1 when some lse is not finite, else 0
//   cross_entropy_backward(logits, targets, lse, dlogits, N, V, ignore_index, scale)
//       dlogits: (N, V) f32 += scale·(exp(logits − lse) − onehot(t)) on non-ignored rows,
//       scale = dloss / count computed by the host
//
// Hardware: single-work-item kernels; work-group g of a launch is compute unit g and takes a
// contiguous slice of rows (rows are long: V = 50257 for GPT-2, 196 KiB, so rows are
// streamed, never buffered whole).
// - rows: two streaming passes over the row, 16 lanes (one 512-bit beat) per clock at II = 1.
//   Pass 1 keeps 16 running maxima and 16 sums of x·0, which stay 0 exactly when every logit
//   is finite, so the NaN/Inf check costs no extra pass. Pass 2 sums exp(x − max) in blocks of
//   BLOCK logits (16 lane accumulators, 32 terms each, so the adder's latency is hidden and
//   the sums stay short) and adds the block sums with Kahan compensation. Bound by two reads of
//   the logits and by the exp units (16 in parallel).
// - total: one CU walks the N rows in order (one lse and one gathered logit per row) and sums
//   the row losses with Kahan compensation: deterministic and independent of the CU count.
// - backward: one streaming pass per non-ignored row, read logits + read/write dlogits at II = 1.
//   The target entry is redone in one rounding with expm1 (p − 1 loses digits when p → 1).

#define VEC 16
#define BLOCK 512

// [lo, hi) of this compute unit's slice of n rows.
static void cu_rows(int n, int* lo, int* hi) {
  const int cu = (int)get_group_id(0), ncu = (int)get_num_groups(0);
  const int per = (n + ncu - 1) / ncu;
  *lo = min(n, cu * per);
  *hi = min(n, (cu + 1) * per);
}

// The 16 lane sums added in a fixed tree.
static float lanes_sum(float16 v) {
  const float8 a = v.lo + v.hi;
  const float4 b = a.lo + a.hi;
  const float2 c = b.lo + b.hi;
  return c.x + c.y;
}

static float lanes_max(float16 v) {
  const float8 a = fmax(v.lo, v.hi);
  const float4 b = fmax(a.lo, a.hi);
  const float2 c = fmax(b.lo, b.hi);
  return fmax(c.x, c.y);
}

// Log-sum-exp of row[0..V), or NaN when the row holds a NaN or Inf.
static float row_lse(__global const float* row, const int V) {
  float16 mx = -INFINITY, z = 0.0f;
  float m1 = -INFINITY, z1 = 0.0f;
  int j = 0;
  __attribute__((xcl_pipeline_loop(1)))
  for (; j + VEC <= V; j += VEC) {
    const float16 v = vload16(0, row + j);
    mx = fmax(mx, v);
    z += v * 0.0f;
  }
  for (; j < V; ++j) {
    m1 = fmax(m1, row[j]);
    z1 += row[j] * 0.0f;
  }
  const float m = fmax(lanes_max(mx), m1);
  if (lanes_sum(z) + z1 != 0.0f || !isfinite(m)) return NAN;

  float sum = 0.0f, comp = 0.0f;  // Kahan: comp holds the low bits the running sum dropped
  for (int b0 = 0; b0 < V; b0 += BLOCK) {
    const int b1 = min(V, b0 + BLOCK);
    float16 acc = 0.0f;
    float tail = 0.0f;
    int k = b0;
    __attribute__((xcl_pipeline_loop(1)))
    for (; k + VEC <= b1; k += VEC) acc += exp(vload16(0, row + k) - m);
    for (; k < b1; ++k) tail += exp(row[k] - m);
    const float y = (lanes_sum(acc) + tail) - comp;
    const float t = sum + y;
    comp = (t - sum) - y;
    sum = t;
  }
  return m + log(sum);
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void cross_entropy_rows(__global const float* restrict logits, __global float* restrict lse, const int N,
                        const int V) {
  int r0, r1;
  cu_rows(N, &r0, &r1);
  for (int i = r0; i < r1; ++i) lse[i] = row_lse(logits + (long)i * V, V);
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void cross_entropy_total(__global const float* restrict logits, __global const int* restrict targets,
                         __global const float* restrict lse, __global float* restrict loss,
                         __global float* restrict status, const int N, const int V, const int ignore_index) {
  float sum = 0.0f, comp = 0.0f;
  int count = 0, bad = 0;
  for (int i = 0; i < N; ++i) {
    const float l = lse[i];
    bad |= !isfinite(l);
    const int t = targets[i];
    if (t == ignore_index) continue;
    const float y = (l - logits[(long)i * V + t]) - comp;
    const float s = sum + y;
    comp = (s - sum) - y;
    sum = s;
    ++count;
  }
  loss[0] = count > 0 ? sum / (float)count : 0.0f;
  status[0] = bad ? 1.0f : 0.0f;
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void cross_entropy_backward(__global const float* restrict logits, __global const int* restrict targets,
                            __global const float* restrict lse, __global float* restrict dlogits, const int N,
                            const int V, const int ignore_index, const float scale) {
  int r0, r1;
  cu_rows(N, &r0, &r1);
  for (int i = r0; i < r1; ++i) {
    const int t = targets[i];
    if (t == ignore_index) continue;
    __global const float* row = logits + (long)i * V;
    __global float* d = dlogits + (long)i * V;
    const float l = lse[i];
    const float d_target = d[t];
    int j = 0;
    __attribute__((xcl_pipeline_loop(1)))
    for (; j + VEC <= V; j += VEC) vstore16(vload16(0, d + j) + scale * exp(vload16(0, row + j) - l), 0, d + j);
    for (; j < V; ++j) d[j] += scale * exp(row[j] - l);
    d[t] = d_target + scale * expm1(row[t] - l);
  }
}
