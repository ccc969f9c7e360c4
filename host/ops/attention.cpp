#include "ops/attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

namespace {

// Checks q, k, v and the arguments shared by forward and backward.
void check_operands(std::string_view op, const Tensor& q, const Tensor& k, const Tensor& v,
                    const AttentionArgs& args) {
  check::input(op, "q", q);
  check::rank(op, "q", q, 3);
  check::input(op, "k", k);
  check::rank(op, "k", k, 3);
  check::shaped(op, "k", k, Shape{q.dim(0), k.dim(1), q.dim(2)});
  check::shaped(op, "v", v, k.shape());
  const std::int64_t c = q.dim(2);
  check::that(args.n_head >= 1, op, "n_head " + std::to_string(args.n_head) + " must be at least 1");
  check::that(c % args.n_head == 0, op,
              "n_head " + std::to_string(args.n_head) + " does not divide C = " + std::to_string(c) + " of q " +
                  q.shape().str());
  check::that(!args.causal || q.dim(1) == k.dim(1), op,
              "causal attention needs T == S, got q " + q.shape().str() + " and k " + k.shape().str());
  check::that(std::isfinite(args.scale) && args.scale >= 0.0f, op,
              "scale " + std::to_string(args.scale) + " must be finite and >= 0 (0 means 1/sqrt(D))");
}

Shape probs_shape(const Tensor& q, const Tensor& k, const AttentionArgs& args) {
  return Shape{q.dim(0), args.n_head, q.dim(1), k.dim(1)};
}

}  // namespace

AttentionDims attention_dims(const Shape& q, const Shape& k, const AttentionArgs& args) {
  return {q[0], q[1], k[1], q[2], args.n_head};
}

double attention_scale(const AttentionArgs& args, std::int64_t head_dim) {
  return args.scale != 0.0f ? double(args.scale) : 1.0 / std::sqrt(double(head_dim));
}

void validate_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, const Tensor& out,
                        const Tensor& probs, const AttentionArgs& args) {
  constexpr std::string_view op = "attention";
  check_operands(op, q, k, v, args);
  if (key_mask.defined()) {
    check::shaped(op, "key_mask", key_mask, Shape{q.dim(0), k.dim(1)});
    const float* m = key_mask.data<float>();
    for (std::int64_t i = 0; i < key_mask.numel(); ++i)
      check::that(m[i] == 0.0f || m[i] == 1.0f, op,
                  "key_mask " + key_mask.shape().str() + " holds " + std::to_string(m[i]) + " at index " +
                      std::to_string(i) + "; expected 0 (padding) or 1 (attend)");
  }
  check::shaped(op, "out", out, q.shape());
  check::shaped(op, "probs", probs, probs_shape(q, k, args));
}

void validate_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs,
                                 const Tensor& dout, const Tensor& dq, const Tensor& dk, const Tensor& dv,
                                 const AttentionArgs& args) {
  constexpr std::string_view op = "attention_backward";
  check_operands(op, q, k, v, args);
  check::shaped(op, "probs", probs, probs_shape(q, k, args));
  check::shaped(op, "dout", dout, q.shape());
  check::shaped(op, "dq", dq, q.shape());
  check::shaped(op, "dk", dk, k.shape());
  check::shaped(op, "dv", dv, k.shape());
}

namespace {
double visible_pairs(const AttentionDims& d, bool causal) {
  return causal ? double(d.t) * double(d.t + 1) / 2 : double(d.t) * double(d.s);
}
}  // namespace

OpCost attention_cost(const AttentionDims& d, bool causal, bool masked) {
  const double B = double(d.batch), T = double(d.t), S = double(d.s), C = double(d.c), H = double(d.heads);
  const double pairs = visible_pairs(d, causal);
  // Per head and pair: q·k and p·v are D multiply-adds each; the softmax ~5 flops.
  const double flops = B * H * pairs * (4 * (C / H) + 5);
  // Read q, k, v (and the mask); write out and probs.
  const double bytes = 4 * (B * T * C + 2 * B * S * C + (masked ? B * S : 0.0) + B * T * C + B * H * T * S);
  return {flops, bytes};
}

OpCost attention_backward_cost(const AttentionDims& d, bool causal) {
  const double B = double(d.batch), T = double(d.t), S = double(d.s), C = double(d.c), H = double(d.heads);
  const double pairs = visible_pairs(d, causal);
  // Per head and pair: dv, dP, dq, dk are D multiply-adds each; dS ~4 flops.
  const double flops = B * H * pairs * (8 * (C / H) + 4);
  // Read q, k, v, probs, dout; read+write dq, dk, dv.
  const double bytes = 4 * (B * T * C + 2 * B * S * C + B * H * T * S + B * T * C + 2 * B * T * C + 4 * B * S * C);
  return {flops, bytes};
}

}  // namespace tandem::op

namespace tandem::ref {

template <class T>
void attention(const T* q, const T* k, const T* v, const T* key_mask, T* out, T* probs, const op::AttentionDims& d,
               bool causal, double scale) {
  const std::int64_t B = d.batch, Tq = d.t, S = d.s, C = d.c, H = d.heads, D = d.head_dim();
  std::vector<double> w(static_cast<std::size_t>(S));
  std::vector<bool> visible(static_cast<std::size_t>(S));
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t h = 0; h < H; ++h) {
      for (std::int64_t t = 0; t < Tq; ++t) {
        const T* qt = q + (b * Tq + t) * C + h * D;
        double mx = -std::numeric_limits<double>::infinity();
        bool any = false;
        for (std::int64_t s = 0; s < S; ++s) {
          visible[s] = (key_mask == nullptr || key_mask[b * S + s] != T(0)) && (!causal || s <= t);
          if (!visible[s]) continue;
          const T* ks = k + (b * S + s) * C + h * D;
          double dot = 0;
          for (std::int64_t i = 0; i < D; ++i) dot += double(qt[i]) * double(ks[i]);
          w[s] = scale * dot;
          mx = any ? std::max(mx, w[s]) : w[s];
          any = true;
        }
        double sum = 0;
        for (std::int64_t s = 0; s < S; ++s) {
          w[s] = visible[s] ? std::exp(w[s] - mx) : 0.0;
          sum += w[s];
        }
        T* pt = probs + ((b * H + h) * Tq + t) * S;
        for (std::int64_t s = 0; s < S; ++s) {
          w[s] = any ? w[s] / sum : 0.0;  // no visible key: all-zero weights
          pt[s] = static_cast<T>(w[s]);
        }
        T* ot = out + (b * Tq + t) * C + h * D;
        for (std::int64_t i = 0; i < D; ++i) {
          double o = 0;
          for (std::int64_t s = 0; s < S; ++s) o += w[s] * double(v[(b * S + s) * C + h * D + i]);
          ot[i] = static_cast<T>(o);
        }
      }
    }
  }
}

template <class T>
void attention_backward(const T* q, const T* k, const T* v, const T* probs, const T* dout, T* dq, T* dk, T* dv,
                        const op::AttentionDims& d, double scale) {
  const std::int64_t B = d.batch, Tq = d.t, S = d.s, C = d.c, H = d.heads, D = d.head_dim();
  std::vector<double> dS(static_cast<std::size_t>(S));
  std::vector<double> dk_acc(static_cast<std::size_t>(S * D)), dv_acc(static_cast<std::size_t>(S * D));
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t h = 0; h < H; ++h) {
      std::fill(dk_acc.begin(), dk_acc.end(), 0.0);
      std::fill(dv_acc.begin(), dv_acc.end(), 0.0);
      for (std::int64_t t = 0; t < Tq; ++t) {
        const T* pt = probs + ((b * H + h) * Tq + t) * S;
        const T* gt = dout + (b * Tq + t) * C + h * D;
        const T* qt = q + (b * Tq + t) * C + h * D;
        // dP[s] = dout_t · v_s; dS = P ⊙ (dP − Σ dP ⊙ P)
        double rowdot = 0;
        for (std::int64_t s = 0; s < S; ++s) {
          const T* vs = v + (b * S + s) * C + h * D;
          double dp = 0;
          for (std::int64_t i = 0; i < D; ++i) dp += double(gt[i]) * double(vs[i]);
          dS[s] = dp;
          rowdot += dp * double(pt[s]);
        }
        for (std::int64_t s = 0; s < S; ++s) dS[s] = double(pt[s]) * (dS[s] - rowdot);
        // dq_t += scale Σ_s dS[s] k_s
        for (std::int64_t i = 0; i < D; ++i) {
          double acc = 0;
          for (std::int64_t s = 0; s < S; ++s) acc += dS[s] * double(k[(b * S + s) * C + h * D + i]);
          T& slot = dq[(b * Tq + t) * C + h * D + i];
          slot = static_cast<T>(double(slot) + scale * acc);
        }
        // dk_s += scale dS[s] q_t; dv_s += P[s] dout_t
        for (std::int64_t s = 0; s < S; ++s) {
          for (std::int64_t i = 0; i < D; ++i) {
            dk_acc[s * D + i] += scale * dS[s] * double(qt[i]);
            dv_acc[s * D + i] += double(pt[s]) * double(gt[i]);
          }
        }
      }
      for (std::int64_t s = 0; s < S; ++s) {
        for (std::int64_t i = 0; i < D; ++i) {
          T& ks = dk[(b * S + s) * C + h * D + i];
          T& vs = dv[(b * S + s) * C + h * D + i];
          ks = static_cast<T>(double(ks) + dk_acc[s * D + i]);
          vs = static_cast<T>(double(vs) + dv_acc[s * D + i]);
        }
      }
    }
  }
}

template void attention<float>(const float*, const float*, const float*, const float*, float*, float*,
                               const op::AttentionDims&, bool, double);
template void attention<double>(const double*, const double*, const double*, const double*, double*, double*,
                                const op::AttentionDims&, bool, double);
template void attention_backward<float>(const float*, const float*, const float*, const float*, const float*, float*,
                                        float*, float*, const op::AttentionDims&, double);
template void attention_backward<double>(const double*, const double*, const double*, const double*, const double*,
                                         double*, double*, double*, const op::AttentionDims&, double);

}  // namespace tandem::ref

namespace tandem {

void ReferenceKernels::do_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask,
                                    Tensor& out, Tensor& probs, const AttentionArgs& args) {
  const op::AttentionDims d = op::attention_dims(q.shape(), k.shape(), args);
  ref::attention(q.data<float>(), k.data<float>(), v.data<float>(),
                 key_mask.defined() ? key_mask.data<float>() : nullptr, out.data<float>(), probs.data<float>(), d,
                 args.causal, op::attention_scale(args, d.head_dim()));
}

void ReferenceKernels::do_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs,
                                             const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv,
                                             const AttentionArgs& args) {
  const op::AttentionDims d = op::attention_dims(q.shape(), k.shape(), args);
  ref::attention_backward(q.data<float>(), k.data<float>(), v.data<float>(), probs.data<float>(), dout.data<float>(),
                          dq.data<float>(), dk.data<float>(), dv.data<float>(), d,
                          op::attention_scale(args, d.head_dim()));
}

}  // namespace tandem
