// CPU attention: one oneTBB task per (batch, head) pair, Eigen for the per-head products.
// A head is a strided column slice of q, k, v and out (Eigen::Map with OuterStride C);
// probs (B, H, T, S) is dense per pair; causal attention works in blocks of query rows that
// skip the keys no row of the block can see. Tasks write disjoint memory, and every reduction
// (row max, row sums) runs in a fixed order on buffers of fixed alignment, so results are
// bitwise identical from run to run whatever thread runs which pair.
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "backends/cpu/cpu_kernels.hpp"
#include "backends/cpu/parallel.hpp"
#include "ops/attention.hpp"

namespace tandem {

namespace {

using i64 = std::int64_t;
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Strided = Eigen::Map<RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;
using ConstStrided = Eigen::Map<const RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;
using Dense = Eigen::Map<RowMat>;
using ConstDense = Eigen::Map<const RowMat>;

// Sum of x[0..n) in a fixed order independent of x's alignment: 16 lane sums (which the
// compiler vectorises without reassociating anything), then the lanes in order.
constexpr int kLanes = 16;

float lane_sum(const float* x, i64 n) {
  float acc[kLanes] = {};
  i64 i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += x[i + l];
  for (int l = 0; i < n; ++i, ++l) acc[l] += x[i];
  float s = 0.0f;
  for (float a : acc) s += a;
  return s;
}

float lane_dot(const float* x, const float* y, i64 n) {
  float acc[kLanes] = {};
  i64 i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += x[i + l] * y[i + l];
  for (int l = 0; i < n; ++i, ++l) acc[l] += x[i] * y[i];
  float s = 0.0f;
  for (float a : acc) s += a;
  return s;
}

// Per-thread scratch buffers (0: softmax weights, 1: dS), aligned by Eigen's allocator so
// that vector code splits them identically on every call; they only grow.
float* scratch(int slot, i64 n) {
  thread_local Eigen::ArrayXf buf[2];
  if (buf[slot].size() < n) buf[slot].resize(n);
  return buf[slot].data();
}

// Turns the raw scores row[0..S) into softmax weights over the visible keys
// s < limit with mask[s] != 0 (mask may be null); every other weight becomes exactly 0,
// and the whole row 0 when no key is visible.
void softmax_row(float* row, i64 S, i64 limit, const float* mask, float scale) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  float* w = scratch(0, limit);
  float mx = kNegInf;
  for (i64 s = 0; s < limit; ++s) {
    w[s] = (mask == nullptr || mask[s] != 0.0f) ? row[s] * scale : kNegInf;
    mx = std::max(mx, w[s]);
  }
  if (mx == kNegInf) {
    for (i64 s = 0; s < S; ++s) row[s] = 0.0f;
    return;
  }
  Eigen::Map<Eigen::ArrayXf, Eigen::AlignedMax> wv(w, limit);
  wv = (wv - mx).exp();
  if (mask != nullptr)
    for (i64 s = 0; s < limit; ++s)
      if (mask[s] == 0.0f) w[s] = 0.0f;  // exp(-inf) need not be exactly 0 in vector code
  const float sum = lane_sum(w, limit);
  for (i64 s = 0; s < limit; ++s) row[s] = w[s] / sum;
  for (i64 s = limit; s < S; ++s) row[s] = 0.0f;
}

// Query rows in blocks: all T rows against all S keys at once, or, when causal, blocks of
// kCausalRows rows that only touch the keys they can see (keys < r0 + rows), which skips
// about half the work. (Blocking the non-causal case as well measured no faster.)
// Calls f(r0, rows, keys) in order.
constexpr i64 kCausalRows = 64;

template <class F> void for_each_block(i64 T, i64 S, bool causal, F&& f) {
  if (!causal) {
    f(i64{0}, T, S);
    return;
  }
  for (i64 r0 = 0; r0 < T; r0 += kCausalRows) {
    const i64 rows = std::min(kCausalRows, T - r0);
    f(r0, rows, std::min(S, r0 + rows));
  }
}

}  // namespace

void CpuKernels::do_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, Tensor& out,
                              Tensor& probs, const AttentionArgs& args) {
  const op::AttentionDims d = op::attention_dims(q.shape(), k.shape(), args);
  const i64 T = d.t, S = d.s, C = d.c, H = d.heads, D = d.head_dim();
  const auto scale = static_cast<float>(op::attention_scale(args, D));
  const float* Q = q.data<float>();
  const float* K = k.data<float>();
  const float* V = v.data<float>();
  const float* M = key_mask.defined() ? key_mask.data<float>() : nullptr;
  float* O = out.data<float>();
  float* P = probs.data<float>();
  const bool causal = args.causal;

  cpu::parallel_for(d.batch * H, 1, [&](i64 lo, i64 hi) {
    for (i64 bh = lo; bh < hi; ++bh) {
      const i64 b = bh / H, h = bh % H;
      ConstStrided q_h(Q + b * T * C + h * D, T, D, Eigen::OuterStride<>(C));
      ConstStrided k_h(K + b * S * C + h * D, S, D, Eigen::OuterStride<>(C));
      ConstStrided v_h(V + b * S * C + h * D, S, D, Eigen::OuterStride<>(C));
      Strided o_h(O + b * T * C + h * D, T, D, Eigen::OuterStride<>(C));
      Dense p(P + bh * T * S, T, S);
      const float* mask = M != nullptr ? M + b * S : nullptr;
      for_each_block(T, S, causal, [&](i64 r0, i64 rows, i64 keys) {
        auto p_blk = p.block(r0, 0, rows, keys);
        p_blk.noalias() = q_h.middleRows(r0, rows) * k_h.topRows(keys).transpose();
        for (i64 t = r0; t < r0 + rows; ++t) softmax_row(p.data() + t * S, S, causal ? t + 1 : S, mask, scale);
        o_h.middleRows(r0, rows).noalias() = p_blk * v_h.topRows(keys);
      });
    }
  });
}

void CpuKernels::do_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs,
                                       const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv,
                                       const AttentionArgs& args) {
  const op::AttentionDims d = op::attention_dims(q.shape(), k.shape(), args);
  const i64 T = d.t, S = d.s, C = d.c, H = d.heads, D = d.head_dim();
  const auto scale = static_cast<float>(op::attention_scale(args, D));
  const float* Q = q.data<float>();
  const float* K = k.data<float>();
  const float* V = v.data<float>();
  const float* P = probs.data<float>();
  const float* G = dout.data<float>();
  float* DQ = dq.data<float>();
  float* DK = dk.data<float>();
  float* DV = dv.data<float>();
  const bool causal = args.causal;

  cpu::parallel_for(d.batch * H, 1, [&](i64 lo, i64 hi) {
    for (i64 bh = lo; bh < hi; ++bh) {
      const i64 b = bh / H, h = bh % H;
      const i64 qo = b * T * C + h * D, ko = b * S * C + h * D;
      const Eigen::OuterStride<> stride(C);
      ConstStrided q_h(Q + qo, T, D, stride), g_h(G + qo, T, D, stride);
      ConstStrided k_h(K + ko, S, D, stride), v_h(V + ko, S, D, stride);
      Strided dq_h(DQ + qo, T, D, stride), dk_h(DK + ko, S, D, stride), dv_h(DV + ko, S, D, stride);
      ConstDense p(P + bh * T * S, T, S);

      for_each_block(T, S, causal, [&](i64 r0, i64 rows, i64 keys) {
        auto p_blk = p.block(r0, 0, rows, keys);
        auto g_blk = g_h.middleRows(r0, rows);
        dv_h.topRows(keys).noalias() += p_blk.transpose() * g_blk;
        Dense ds(scratch(1, rows * keys), rows, keys);
        ds.noalias() = g_blk * v_h.topRows(keys).transpose();  // dP
        for (i64 t = 0; t < rows; ++t) {
          float* r = ds.data() + t * keys;
          const float* pr = p.data() + (r0 + t) * S;
          const float rowdot = lane_dot(r, pr, keys);
          for (i64 s = 0; s < keys; ++s) r[s] = pr[s] * (r[s] - rowdot);
        }
        dq_h.middleRows(r0, rows).noalias() += scale * (ds * k_h.topRows(keys));
        dk_h.topRows(keys).noalias() += scale * (ds.transpose() * q_h.middleRows(r0, rows));
      });
    }
  });
}

}  // namespace tandem
