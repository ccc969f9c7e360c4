// Fused scaled dot-product attention, forward and backward (host/ops/attention.hpp).
// Heads are interleaved in the channels: head h owns channels [h·D, (h+1)·D) of q, k, v, out,
// D = C / H, so a head's rows are D floats at a stride of C.
//
//   attention_forward(q, k, v, mask, out, probs, B, T, S, C, H, causal, has_mask, scale)
//       q, out (B, T, C); k, v (B, S, C); mask (B, S) f32 0/1 (read only when has_mask);
//       probs (B, H, T, S) receives the softmax weights: exactly 0 on invisible keys (masked,
//       or s > t when causal) and on every key of a query that sees none (its out row is 0).
//   attention_backward_delta(v, probs, dout, delta, B, T, S, C, H, causal)
//       delta (B, H, T): delta[t] = sum_s P[t,s] (dout_t · v_s) = rowsum(dP ⊙ P), computed as
//       dout_t · (P·V)_t so it costs one P·V product.
//   attention_backward(q, k, v, probs, dout, delta, dq, dk, dv, B, T, S, C, H, causal, scale)
//       dq (B, T, C), dk and dv (B, S, C), accumulated (+=):
//       dv += Pᵀ·dout;  dS = P ⊙ (dout·vᵀ − delta);  dq += scale·dS·k;  dk += scale·dSᵀ·q.
//
// Hardware: single-work-item kernels; work-group c of a launch is compute unit c.
// - Forward and delta: a task is one tile of up to TQ_MAX query rows of one (batch, head); CU c
//   takes tasks c, c + CUs, ... The query tile stays in on-chip RAM while tiles of up to TK_MAX
//   keys (then values) are burst-read into a second buffer. The forward makes three passes per
//   query tile: scores (q·k, written to probs as scratch since probs must be written anyway),
//   exp + row sums, then normalise + P·V. Keeping a whole score row on chip would save the
//   re-reads of probs when TQ_MAX·S fits; the tiles here are sized for D up to 4096 instead.
// - Backward (FlashAttention-2's loop order): a task is a whole (batch, head), so one CU owns
//   that head's dk, dv and dq and no two CUs ever write the same gradient. For each key tile,
//   k, v and the dk/dv accumulators stay on chip while query tiles stream past; dq is
//   accumulated in global memory, one read-modify-write per (key tile, query tile).
// - Inner loops: dot products over D run 8 lanes wide (float8: 8 multipliers + an adder tree
//   per CU); the (row, key, channel) loops have fixed bounds per tile, so they pipeline at
//   II = 1 with the tile arrays partitioned by 8 along D. Tile sizes: TQ_MAX × D ≤ Q_BUF and
//   TK_MAX × D ≤ K_BUF floats (16 KiB: 4 BRAM36 each, banked 8 wide), so D = 64 gives 32 × 64 query tiles
//   and 64 × 64 key tiles. Throughput is bound by the multipliers (≈ 8 MACs per clock per CU);
//   memory traffic per query tile is one read of K and V, plus the probs passes.
//
// Accuracy and determinism: sums over keys are blocked (per key tile, then tile sums in key
// order), sums over queries likewise (per query tile), dots over D in 8 lanes then a tree.
// Every reduction has a fixed order and a task is never split between CUs, so results are
// bitwise the same for any CU count.

#define TQ_MAX 32
#define TK_MAX 64
#define Q_BUF 4096
#define K_BUF 4096
#define P_BUF (TQ_MAX * TK_MAX)

#define CU ((int)get_group_id(0))
#define CUS ((int)get_num_groups(0))

// Sum of a[i]·b[i] for i < n: 8 lanes, then a tree, then the tail in order.
static float dot_local(__local const float* a, __local const float* b, int n) {
  float8 acc = (float8)(0.0f);
  int i = 0;
  __attribute__((xcl_pipeline_loop(1)))
  for (; i + 8 <= n; i += 8) acc += vload8(0, a + i) * vload8(0, b + i);
  const float4 h4 = acc.lo + acc.hi;
  const float2 h2 = h4.lo + h4.hi;
  float s = h2.x + h2.y;
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// dst (rows, D) dense on chip <- src rows of D floats at a stride of C.
static void load_rows(__local float* restrict dst, __global const float* restrict src, int rows, int D, int C) {
  for (int r = 0; r < rows; ++r) {
    __attribute__((xcl_pipeline_loop(1)))
    for (int i = 0; i < D; ++i) dst[r * D + i] = src[(long)r * C + i];
  }
}

static void zero_local(__local float* a, int n) {
  __attribute__((xcl_pipeline_loop(1)))
  for (int i = 0; i < n; ++i) a[i] = 0.0f;
}

// out (rows, D) = pb (rows, ks; row stride TK_MAX) · x (ks, D).
static void tile_product(__local float* restrict out, __local const float* restrict pb,
                         __local const float* restrict x, int rows, int ks, int D) {
  zero_local(out, rows * D);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < ks; ++j) {
      const float p = pb[r * TK_MAX + j];
      __attribute__((xcl_pipeline_loop(1)))
      for (int i = 0; i < D; ++i) out[r * D + i] += p * x[j * D + i];
    }
}

// acc += pb · x, the sum over this key tile formed in part before it joins the running total.
static void add_tile_product(__local float* restrict acc, __local float* restrict part,
                             __local const float* restrict pb, __local const float* restrict x, int rows,
                             int ks, int D) {
  tile_product(part, pb, x, rows, ks, D);
  __attribute__((xcl_pipeline_loop(1)))
  for (int i = 0; i < rows * D; ++i) acc[i] += part[i];
}

// Which query tile, batch and head a forward/delta task is.
typedef struct {
  int b, h, t0, rows, kend;
} QueryTile;

static QueryTile query_tile(long task, int qtiles, int tq, int T, int S, int H, int causal) {
  QueryTile qt;
  const long bh = task / qtiles;
  qt.b = (int)(bh / H);
  qt.h = (int)(bh % H);
  qt.t0 = (int)(task % qtiles) * tq;
  qt.rows = min(tq, T - qt.t0);
  // Keys any row of the tile can see; with causal, T == S and row t sees keys <= t.
  qt.kend = causal ? min(S, qt.t0 + qt.rows) : S;
  return qt;
}

// Writes the masked, scaled scores of the tile's rows against keys [0, kend) to probs (rows
// at a stride of S) and returns each row's maximum in mx (-inf when no key is visible).
static void scores_pass(__local float* restrict qbuf, __local float* restrict kbuf, __global const float* restrict kb,
                        __global const float* restrict mrow, __global float* restrict p0, float* mx, QueryTile qt,
                        int tk, int S, int C, int D, int causal, int has_mask, float scale) {
  for (int r = 0; r < qt.rows; ++r) mx[r] = -INFINITY;
  for (int s0 = 0; s0 < qt.kend; s0 += tk) {
    const int ks = min(tk, qt.kend - s0);
    load_rows(kbuf, kb + (long)s0 * C, ks, D, C);
    for (int r = 0; r < qt.rows; ++r) {
      __global float* pr = p0 + (long)r * S + s0;
      for (int j = 0; j < ks; ++j) {
        const int s = s0 + j;
        const bool visible = (!has_mask || mrow[s] != 0.0f) && (!causal || s <= qt.t0 + r);
        const float sc = visible ? scale * dot_local(qbuf + r * D, kbuf + j * D, D) : -INFINITY;
        pr[j] = sc;
        mx[r] = fmax(mx[r], sc);
      }
    }
  }
}

// Replaces the scores pr[0..kend) by exp(score - mx) (invisible ones by exactly 0), zeroes
// pr[kend..S), and returns the blocked sum of the exponentials (0 when no key is visible).
static float exp_row(__global float* pr, int kend, int S, float mx, int tk) {
  float total = 0.0f;
  for (int s0 = 0; s0 < kend; s0 += tk) {
    const int ks = min(tk, kend - s0);
    float part = 0.0f;
    __attribute__((xcl_pipeline_loop(1)))
    for (int j = 0; j < ks; ++j) {
      const float sc = pr[s0 + j];
      const float e = (sc == -INFINITY) ? 0.0f : exp(sc - mx);
      pr[s0 + j] = e;
      part += e;
    }
    total += part;
  }
  for (int s = kend; s < S; ++s) pr[s] = 0.0f;
  return total;
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void attention_forward(__global const float* restrict q, __global const float* restrict k,
                       __global const float* restrict v, __global const float* restrict mask,
                       __global float* restrict out, __global float* restrict probs, const int B, const int T,
                       const int S, const int C, const int H, const int causal, const int has_mask,
                       const float scale) {
  __local float qbuf[Q_BUF];
  __local float kbuf[K_BUF];
  __local float acc[Q_BUF];
  __local float part[Q_BUF];
  __local float pb[P_BUF];
  float mx[TQ_MAX];
  float den[TQ_MAX];
  const int D = C / H;
  const int tq = min(TQ_MAX, Q_BUF / D), tk = min(TK_MAX, K_BUF / D);
  const int qtiles = (T + tq - 1) / tq;
  const long tasks = (long)B * H * qtiles;

  for (long task = CU; task < tasks; task += CUS) {
    const QueryTile qt = query_tile(task, qtiles, tq, T, S, H, causal);
    const long head = (long)qt.b * H + qt.h;
    __global float* p0 = probs + (head * T + qt.t0) * S;
    __global const float* kb = k + (long)qt.b * S * C + (long)qt.h * D;
    __global const float* vb = v + (long)qt.b * S * C + (long)qt.h * D;
    const long q_off = ((long)qt.b * T + qt.t0) * C + (long)qt.h * D;

    load_rows(qbuf, q + q_off, qt.rows, D, C);
    scores_pass(qbuf, kbuf, kb, mask + (long)qt.b * S, p0, mx, qt, tk, S, C, D, causal, has_mask, scale);
    for (int r = 0; r < qt.rows; ++r) den[r] = exp_row(p0 + (long)r * S, qt.kend, S, mx[r], tk);

    zero_local(acc, qt.rows * D);
    for (int s0 = 0; s0 < qt.kend; s0 += tk) {
      const int ks = min(tk, qt.kend - s0);
      load_rows(kbuf, vb + (long)s0 * C, ks, D, C);
      for (int r = 0; r < qt.rows; ++r) {
        __global float* pr = p0 + (long)r * S + s0;
        for (int j = 0; j < ks; ++j) {
          const float p = den[r] > 0.0f ? pr[j] / den[r] : 0.0f;
          pr[j] = p;
          pb[r * TK_MAX + j] = p;
        }
      }
      add_tile_product(acc, part, pb, kbuf, qt.rows, ks, D);
    }
    for (int r = 0; r < qt.rows; ++r) {
      __global float* orow = out + q_off + (long)r * C;
      __attribute__((xcl_pipeline_loop(1)))
      for (int i = 0; i < D; ++i) orow[i] = acc[r * D + i];
    }
  }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void attention_backward_delta(__global const float* restrict v, __global const float* restrict probs,
                              __global const float* restrict dout, __global float* restrict delta, const int B,
                              const int T, const int S, const int C, const int H, const int causal) {
  __local float gbuf[Q_BUF];
  __local float vbuf[K_BUF];
  __local float acc[Q_BUF];
  __local float part[Q_BUF];
  __local float pb[P_BUF];
  const int D = C / H;
  const int tq = min(TQ_MAX, Q_BUF / D), tk = min(TK_MAX, K_BUF / D);
  const int qtiles = (T + tq - 1) / tq;
  const long tasks = (long)B * H * qtiles;

  for (long task = CU; task < tasks; task += CUS) {
    const QueryTile qt = query_tile(task, qtiles, tq, T, S, H, causal);
    const long head = (long)qt.b * H + qt.h;
    __global const float* p0 = probs + (head * T + qt.t0) * S;
    __global const float* vb = v + (long)qt.b * S * C + (long)qt.h * D;

    zero_local(acc, qt.rows * D);
    for (int s0 = 0; s0 < qt.kend; s0 += tk) {
      const int ks = min(tk, qt.kend - s0);
      load_rows(vbuf, vb + (long)s0 * C, ks, D, C);
      for (int r = 0; r < qt.rows; ++r)
        for (int j = 0; j < ks; ++j) pb[r * TK_MAX + j] = p0[(long)r * S + s0 + j];
      add_tile_product(acc, part, pb, vbuf, qt.rows, ks, D);
    }
    load_rows(gbuf, dout + ((long)qt.b * T + qt.t0) * C + (long)qt.h * D, qt.rows, D, C);
    for (int r = 0; r < qt.rows; ++r) delta[head * T + qt.t0 + r] = dot_local(gbuf + r * D, acc + r * D, D);
  }
}

// part (ks, D) = scale · xᵀ (ks × rows, from rows of stride TK_MAX) · y (rows, D); acc += part.
static void add_tile_product_t(__local float* restrict acc, __local float* restrict part,
                               __local const float* restrict x, __local const float* restrict y, int rows, int ks,
                               int D, float scale) {
  zero_local(part, ks * D);
  for (int j = 0; j < ks; ++j)
    for (int r = 0; r < rows; ++r) {
      const float w = x[r * TK_MAX + j];
      __attribute__((xcl_pipeline_loop(1)))
      for (int i = 0; i < D; ++i) part[j * D + i] += w * y[r * D + i];
    }
  __attribute__((xcl_pipeline_loop(1)))
  for (int i = 0; i < ks * D; ++i) acc[i] += scale * part[i];
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void attention_backward(__global const float* restrict q, __global const float* restrict k,
                        __global const float* restrict v, __global const float* restrict probs,
                        __global const float* restrict dout, __global const float* restrict delta,
                        __global float* restrict dq, __global float* restrict dk, __global float* restrict dv,
                        const int B, const int T, const int S, const int C, const int H, const int causal,
                        const float scale) {
  __local float kbuf[K_BUF];
  __local float vbuf[K_BUF];
  __local float dk_acc[K_BUF];
  __local float dv_acc[K_BUF];
  __local float kpart[K_BUF];
  __local float qbuf[Q_BUF];
  __local float gbuf[Q_BUF];
  __local float qpart[Q_BUF];
  __local float pb[P_BUF];
  __local float ds[P_BUF];
  const int D = C / H;
  const int tq = min(TQ_MAX, Q_BUF / D), tk = min(TK_MAX, K_BUF / D);
  const long heads = (long)B * H;

  for (long head = CU; head < heads; head += CUS) {
    const int b = (int)(head / H), h = (int)(head % H);
    const long kv_off = (long)b * S * C + (long)h * D;
    const long q_base = (long)b * T * C + (long)h * D;
    __global const float* ph = probs + head * T * S;
    __global const float* dh = delta + head * T;

    for (int s0 = 0; s0 < S; s0 += tk) {
      const int ks = min(tk, S - s0);
      load_rows(kbuf, k + kv_off + (long)s0 * C, ks, D, C);
      load_rows(vbuf, v + kv_off + (long)s0 * C, ks, D, C);
      zero_local(dk_acc, ks * D);
      zero_local(dv_acc, ks * D);
      // With causal, queries before s0 see none of these keys (their P is 0).
      for (int t0 = causal ? s0 : 0; t0 < T; t0 += tq) {
        const int rows = min(tq, T - t0);
        load_rows(qbuf, q + q_base + (long)t0 * C, rows, D, C);
        load_rows(gbuf, dout + q_base + (long)t0 * C, rows, D, C);
        for (int r = 0; r < rows; ++r) {
          const float dr = dh[t0 + r];
          for (int j = 0; j < ks; ++j) {
            const float p = ph[(long)(t0 + r) * S + s0 + j];
            pb[r * TK_MAX + j] = p;
            ds[r * TK_MAX + j] = p * (dot_local(gbuf + r * D, vbuf + j * D, D) - dr);
          }
        }
        add_tile_product_t(dv_acc, kpart, pb, gbuf, rows, ks, D, 1.0f);
        add_tile_product_t(dk_acc, kpart, ds, qbuf, rows, ks, D, scale);
        // dq rows += scale · dS (rows, ks) · k tile (ks, D)
        tile_product(qpart, ds, kbuf, rows, ks, D);
        for (int r = 0; r < rows; ++r) {
          __global float* dqr = dq + q_base + (long)(t0 + r) * C;
          __attribute__((xcl_pipeline_loop(1)))
          for (int i = 0; i < D; ++i) dqr[i] += scale * qpart[r * D + i];
        }
      }
      for (int j = 0; j < ks; ++j) {
        __global float* dkr = dk + kv_off + (long)(s0 + j) * C;
        __global float* dvr = dv + kv_off + (long)(s0 + j) * C;
        __attribute__((xcl_pipeline_loop(1)))
        for (int i = 0; i < D; ++i) {
          dkr[i] += dk_acc[j * D + i];
          dvr[i] += dv_acc[j * D + i];
        }
      }
    }
  }
}
