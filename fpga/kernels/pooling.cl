// Sequence pooling: masked mean over tokens and first-token ([CLS]) pooling, forward and backward.
//
//   pool_inverse_weights(mask, inv, B, T, has_mask)
//       inv[b] = 1 / Σ_t mask[b,t]  (1/T without a mask), or 0 when the sum is 0
//       mask (B, T) f32 or a dummy when has_mask == 0; inv (B) f32 scratch for the two kernels below
//   mean_pool_forward(x, mask, inv, out, B, T, C, has_mask)
//       out[b,c] = inv[b] · Σ_t mask[b,t]·x[b,t,c]    x (B, T, C), out (B, C); tokens of weight 0 are
//       skipped, so NaN in padding does not leak into the mean (as in the CPU backend)
//   mean_pool_backward(dout, mask, inv, dx, B, T, C, has_mask)
//       dx[b,t,c] += mask[b,t]·inv[b] · dout[b,c]      dout (B, C), dx (B, T, C); rows of weight 0 untouched
//   first_token_pool_forward(x, out, B, T, C)       out[b,:] = x[b,0,:]
//   first_token_pool_backward(dout, dx, B, T, C)    dx[b,0,:] += dout[b,:]   (rows t > 0 untouched)
//
// Sums over tokens are blocked: BLOCK tokens are summed into a partial, partials into the total,
// so the rounding error grows with BLOCK + T/BLOCK rather than T, in a fixed order that does not
// depend on the CU count.
//
// Hardware: single-work-item kernels; compute unit c takes the c-th contiguous share of the work
// units. mean_pool_forward's unit is (batch entry, TILE-channel tile): TILE accumulators in a
// completely partitioned private array, one TILE-float burst per token, the channel loop at
// II = 1 (the token loop carries the accumulation, but across tokens each lane's adder has TILE
// cycles to finish). The other kernels stream whole C-float rows at II = 1. All are bound by
// memory bandwidth: 4 bytes per x element read.

#define TILE 64
#define BLOCK 32

static void cu_range(int count, int* lo, int* hi) {
  const int cu = (int)get_group_id(0), ncu = (int)get_num_groups(0);
  const int per = (count + ncu - 1) / ncu;
  *lo = min(count, cu * per);
  *hi = min(count, (cu + 1) * per);
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void pool_inverse_weights(__global const float* restrict mask, __global float* restrict inv, const int B, const int T,
                          const int has_mask) {
  int lo, hi;
  cu_range(B, &lo, &hi);
  for (int b = lo; b < hi; ++b) {
    float total = (float)T;
    if (has_mask) {
      total = 0.0f;
      float part = 0.0f;
      for (int t = 0; t < T; ++t) {
        part += mask[(long)b * T + t];
        if (t % BLOCK == BLOCK - 1) {
          total += part;
          part = 0.0f;
        }
      }
      total += part;
    }
    inv[b] = total > 0.0f ? 1.0f / total : 0.0f;
  }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void mean_pool_forward(__global const float* restrict x, __global const float* restrict mask,
                       __global const float* restrict inv, __global float* restrict out, const int B, const int T,
                       const int C, const int has_mask) {
  float acc[TILE] __attribute__((xcl_array_partition(complete, 1)));
  float part[TILE] __attribute__((xcl_array_partition(complete, 1)));
  const int tiles = (C + TILE - 1) / TILE;
  int lo, hi;
  cu_range(B * tiles, &lo, &hi);
  for (int u = lo; u < hi; ++u) {
    const int b = u / tiles, c0 = (u % tiles) * TILE;
    const int w = min(TILE, C - c0);
    const float s = inv[b];
    for (int j = 0; j < TILE; ++j) {
      acc[j] = 0.0f;
      part[j] = 0.0f;
    }
    if (s != 0.0f) {
      for (int t = 0; t < T; ++t) {
        const float m = has_mask ? mask[(long)b * T + t] : 1.0f;
        __global const float* src = x + ((long)b * T + t) * C + c0;
        if (m != 0.0f) {
          __attribute__((xcl_pipeline_loop(1)))
          for (int j = 0; j < TILE; ++j)
            if (j < w) part[j] += m * src[j];
        }
        if (t % BLOCK == BLOCK - 1) {
          for (int j = 0; j < TILE; ++j) {
            acc[j] += part[j];
            part[j] = 0.0f;
          }
        }
      }
    }
    __global float* dst = out + (long)b * C + c0;
    for (int j = 0; j < TILE; ++j)
      if (j < w) dst[j] = (acc[j] + part[j]) * s;
  }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void mean_pool_backward(__global const float* restrict dout, __global const float* restrict mask,
                        __global const float* restrict inv, __global float* restrict dx, const int B, const int T,
                        const int C, const int has_mask) {
  int lo, hi;
  cu_range(B * T, &lo, &hi);
  for (int r = lo; r < hi; ++r) {
    const int b = r / T;
    const float w = (has_mask ? mask[r] : 1.0f) * inv[b];
    if (w == 0.0f) continue;
    __global const float* g = dout + (long)b * C;
    __global float* d = dx + (long)r * C;
    __attribute__((xcl_pipeline_loop(1)))
    for (int c = 0; c < C; ++c) d[c] += w * g[c];
  }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void first_token_pool_forward(__global const float* restrict x, __global float* restrict out, const int B,
                              const int T, const int C) {
  int lo, hi;
  cu_range(B, &lo, &hi);
  for (int b = lo; b < hi; ++b) {
    __global const float* src = x + (long)b * T * C;
    __global float* dst = out + (long)b * C;
    __attribute__((xcl_pipeline_loop(1)))
    for (int c = 0; c < C; ++c) dst[c] = src[c];
  }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void first_token_pool_backward(__global const float* restrict dout, __global float* restrict dx, const int B,
                               const int T, const int C) {
  int lo, hi;
  cu_range(B, &lo, &hi);
  for (int b = lo; b < hi; ++b) {
    __global const float* g = dout + (long)b * C;
    __global float* d = dx + (long)b * T * C;
    __attribute__((xcl_pipeline_loop(1)))
    for (int c = 0; c < C; ++c) d[c] += g[c];
  }
}
