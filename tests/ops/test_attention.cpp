// Fused scaled dot-product attention: forward, backward, masks, gradients, errors.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernels.hpp"
#include "ops/attention.hpp"
#include "op_test_util.hpp"

namespace tandem::test {
namespace {

using i64 = std::int64_t;

enum class Mask {
  None,
  Padding,       // batch b keeps its first S-1-b keys (at least one)
  FullyMasked,   // Padding, but the last batch entry has no key at all
  FirstKeyOff,   // key 0 padded in every batch entry: causal query 0 sees nothing
};

struct AttnCase {
  i64 b, t, s, c, h;
  bool causal;
  Mask mask;
  float scale = 0.0f;

  [[nodiscard]] AttentionArgs args() const { return {.n_head = int(h), .causal = causal, .scale = scale}; }
  [[nodiscard]] Shape q() const { return {b, t, c}; }
  [[nodiscard]] Shape kv() const { return {b, s, c}; }
  [[nodiscard]] Shape probs() const { return {b, h, t, s}; }
  [[nodiscard]] std::string str() const {
    static const char* names[] = {"none", "padding", "fully-masked", "first-key-off"};
    return "B " + std::to_string(b) + " T " + std::to_string(t) + " S " + std::to_string(s) + " C " +
           std::to_string(c) + " H " + std::to_string(h) + (causal ? " causal" : "") + " mask " +
           names[int(mask)] + " scale " + std::to_string(scale);
  }
};

std::vector<float> mask_values(i64 b, i64 s, Mask kind) {
  std::vector<float> m(std::size_t(b * s), 1.0f);
  for (i64 i = 0; i < b; ++i) {
    for (i64 j = 0; j < s; ++j) {
      float& v = m[std::size_t(i * s + j)];
      switch (kind) {
        case Mask::None: break;
        case Mask::Padding: v = j < std::max<i64>(1, s - 1 - i) ? 1.0f : 0.0f; break;
        case Mask::FullyMasked: v = (i == b - 1) ? 0.0f : (j < std::max<i64>(1, s - 1 - i) ? 1.0f : 0.0f); break;
        case Mask::FirstKeyOff: v = j == 0 ? 0.0f : 1.0f; break;
      }
    }
  }
  return m;
}

Tensor mask_tensor(const AttnCase& c) {
  if (c.mask == Mask::None) return {};
  const auto m = mask_values(c.b, c.s, c.mask);
  return Tensor::from(m, {c.b, c.s});
}

const AttnCase kCases[] = {
    {2, 5, 5, 8, 2, true, Mask::None},
    {2, 5, 5, 8, 2, false, Mask::None},
    {2, 5, 7, 8, 2, false, Mask::Padding},
    {3, 6, 4, 12, 3, false, Mask::FullyMasked},
    {2, 6, 6, 12, 3, true, Mask::Padding},
    {2, 6, 6, 12, 3, true, Mask::FirstKeyOff},
    {1, 1, 1, 4, 2, false, Mask::None},
    {1, 1, 1, 4, 2, true, Mask::None},
    {1, 1, 3, 1, 1, false, Mask::Padding},
    {2, 7, 7, 15, 3, true, Mask::None, 0.3f},
    {2, 7, 11, 15, 3, false, Mask::Padding, 0.3f},
    {2, 7, 11, 15, 3, false, Mask::FullyMasked},
    {2, 128, 128, 64, 1, true, Mask::None},           // GPT-2-like head, H = 1
    {2, 128, 128, 64, 1, false, Mask::Padding},       // BERT-like padding
    {1, 100, 100, 32, 2, true, Mask::Padding},        // causal blocks with a partial last block
    {2, 128, 128, 768, 12, true, Mask::None},         // GPT-2 small block: > 4 MiB of operands
    {2, 128, 96, 768, 12, false, Mask::FullyMasked},  // T != S with padding
};

// Scores are fp32 dot products of length D, |score| small for inputs in [-1, 1), with an error
// of ~u·D/3·scale (u = 6e-8) that moves p by that relative amount; exp and the
// normalisation add a few ulps of p <= 1.
constexpr Bound kProbsBound{1e-12, 3e-7, 1e-5};
// out = Σ_s p·v: a convex combination of values in [-1, 1), so errors stay at the probs level.
constexpr Bound kOutBound{1e-12, 5e-7, 1e-5};
// Gradients: dP sums D terms, dq sums S terms of dS·k, dk and dv sum T terms, all of
// magnitude <= ~1: fp32 rounding ~u·length/3 each; allow 2e-8·(S + T + D) + 1e-7.
Bound grad_bound(const AttnCase& c) { return {1e-11, 1e-7 + 2e-8 * double(c.s + c.t + c.c / c.h), 1e-5}; }

struct Forward {
  Tensor q, k, v, mask;
};

Forward inputs(const AttnCase& c, std::uint64_t seed) {
  return {random_tensor(c.q(), seed), random_tensor(c.kv(), seed + 1), random_tensor(c.kv(), seed + 2),
          mask_tensor(c)};
}

// Probability exactly 0 for every key the query must not see, and an all-zero output and
// probs row where no key is visible; checked on the CPU output.
void expect_masked_exactly(const AttnCase& c, const Tensor& probs, const Tensor& out) {
  const auto m = mask_values(c.b, c.s, c.mask);
  const float* p = probs.data<float>();
  const float* o = out.data<float>();
  const i64 d = c.c / c.h;
  i64 violations = 0, empty_rows = 0;
  for (i64 b = 0; b < c.b; ++b)
    for (i64 h = 0; h < c.h; ++h)
      for (i64 t = 0; t < c.t; ++t) {
        bool any = false;
        for (i64 s = 0; s < c.s; ++s) {
          const bool visible = m[std::size_t(b * c.s + s)] != 0.0f && (!c.causal || s <= t);
          any = any || visible;
          if (!visible && p[((b * c.h + h) * c.t + t) * c.s + s] != 0.0f) ++violations;
        }
        if (!any) {
          ++empty_rows;
          for (i64 i = 0; i < d; ++i)
            if (o[(b * c.t + t) * c.c + h * d + i] != 0.0f) ++violations;
        }
      }
  EXPECT_EQ(violations, 0) << c.str();
  if (c.mask == Mask::FullyMasked || (c.causal && c.mask == Mask::FirstKeyOff)) {
    EXPECT_GT(empty_rows, 0) << "case meant to have queries without keys: " << c.str();
  }
}

// ---------------------------------------------------------------------------------------

// Worked by hand: one query q = 1 against keys 0 and ln 3 (scale 1): weights 1/4, 3/4;
// values 4 and 8 give 1 + 6 = 7. Both backends.
TEST(Attention, SingleQueryWorkedByHand) {
  const float qv[] = {1.0f}, kv[] = {0.0f, std::log(3.0f)}, vv[] = {4.0f, 8.0f};
  Tensor q = Tensor::from(qv, {1, 1, 1}), k = Tensor::from(kv, {1, 2, 1}), v = Tensor::from(vv, {1, 2, 1});
  for (OpKernels* kern : {&cpu_kernels(), &reference()}) {
    Tensor out = Tensor::zeros({1, 1, 1}), probs = Tensor::zeros({1, 1, 1, 2});
    kern->attention(q, k, v, Tensor(), out, probs, {.n_head = 1, .scale = 1.0f});
    EXPECT_NEAR(probs.data<float>()[0], 0.25f, 1e-6f) << kern->name();
    EXPECT_NEAR(probs.data<float>()[1], 0.75f, 1e-6f) << kern->name();
    EXPECT_NEAR(out.data<float>()[0], 7.0f, 1e-5f) << kern->name();
  }
}

TEST(Attention, MatchesReference) {
  std::uint64_t seed = 10;
  for (const AttnCase& c : kCases) {
    const Forward in = inputs(c, seed);
    Guarded out(c.q(), 7.0f), probs(c.probs(), 7.0f), rout(c.q()), rprobs(c.probs());
    cpu_kernels().attention(in.q, in.k, in.v, in.mask, out.get(), probs.get(), c.args());
    reference().attention(in.q, in.k, in.v, in.mask, rout.get(), rprobs.get(), c.args());
    expect_close(probs.get(), rprobs.get(), kProbsBound, "attention probs " + c.str());
    expect_close(out.get(), rout.get(), kOutBound, "attention out " + c.str());
    EXPECT_TRUE(out.guards_intact() && probs.guards_intact()) << c.str();
    expect_masked_exactly(c, probs.get(), out.get());
    expect_masked_exactly(c, rprobs.get(), rout.get());
    seed += 10;
  }
}

// Independent of the code under test: each reference probs row with a visible key sums to 1.
TEST(Attention, ReferenceRowsAreDistributions) {
  for (const AttnCase& c : kCases) {
    if (c.t * c.s > 4096) continue;
    const Forward in = inputs(c, 3);
    Tensor out = Tensor::zeros(c.q()), probs = Tensor::zeros(c.probs());
    reference().attention(in.q, in.k, in.v, in.mask, out, probs, c.args());
    const float* p = probs.data<float>();
    for (i64 row = 0; row < c.b * c.h * c.t; ++row) {
      double sum = 0;
      for (i64 s = 0; s < c.s; ++s) {
        EXPECT_GE(p[row * c.s + s], 0.0f);
        sum += p[row * c.s + s];
      }
      if (sum != 0.0) {
        EXPECT_NEAR(sum, 1.0, 1e-6) << c.str() << " row " << row;
      }
    }
  }
}

TEST(Attention, BackwardAccumulatesAndMatchesReference) {
  std::uint64_t seed = 300;
  for (const AttnCase& c : kCases) {
    const Forward in = inputs(c, seed);
    Tensor out = Tensor::zeros(c.q()), probs = Tensor::zeros(c.probs());
    reference().attention(in.q, in.k, in.v, in.mask, out, probs, c.args());
    Tensor dout = random_tensor(c.q(), seed + 3);
    Tensor dq0 = random_tensor(c.q(), seed + 4), dk0 = random_tensor(c.kv(), seed + 5);
    Tensor dv0 = random_tensor(c.kv(), seed + 6);
    Guarded dq(dq0), dk(dk0), dv(dv0), rdq(dq0), rdk(dk0), rdv(dv0);
    cpu_kernels().attention_backward(in.q, in.k, in.v, probs, dout, dq.get(), dk.get(), dv.get(), c.args());
    reference().attention_backward(in.q, in.k, in.v, probs, dout, rdq.get(), rdk.get(), rdv.get(), c.args());
    const Bound bound = grad_bound(c);
    expect_close(dq.get(), rdq.get(), bound, "attention_backward dq " + c.str());
    expect_close(dk.get(), rdk.get(), bound, "attention_backward dk " + c.str());
    expect_close(dv.get(), rdv.get(), bound, "attention_backward dv " + c.str());
    EXPECT_TRUE(dq.guards_intact() && dk.guards_intact() && dv.guards_intact()) << c.str();
    seed += 10;
  }
}

// Keys that no query sees get no gradient: dk and dv keep their starting values there.
TEST(Attention, FullyMaskedBatchGetsNoGradient) {
  const AttnCase c{3, 6, 4, 12, 3, false, Mask::FullyMasked};
  const Forward in = inputs(c, 5);
  Tensor out = Tensor::zeros(c.q()), probs = Tensor::zeros(c.probs());
  cpu_kernels().attention(in.q, in.k, in.v, in.mask, out, probs, c.args());
  Tensor dout = random_tensor(c.q(), 6);
  Tensor dq0 = random_tensor(c.q(), 7), dk0 = random_tensor(c.kv(), 8), dv0 = random_tensor(c.kv(), 9);
  Tensor dq = dq0.clone(), dk = dk0.clone(), dv = dv0.clone();
  cpu_kernels().attention_backward(in.q, in.k, in.v, probs, dout, dq, dk, dv, c.args());
  const i64 last = c.b - 1;
  EXPECT_TRUE(bitwise_equal(dq.narrow(0, last, 1).contiguous(), dq0.narrow(0, last, 1).contiguous()));
  EXPECT_TRUE(bitwise_equal(dk.narrow(0, last, 1).contiguous(), dk0.narrow(0, last, 1).contiguous()));
  EXPECT_TRUE(bitwise_equal(dv.narrow(0, last, 1).contiguous(), dv0.narrow(0, last, 1).contiguous()));
  for (float x : std::vector<float>(dq.data<float>(), dq.data<float>() + dq.numel())) ASSERT_TRUE(std::isfinite(x));
}

TEST(Attention, GradientMatchesFiniteDifferences) {
  const AttnCase cases[] = {
      {2, 3, 4, 4, 2, false, Mask::None, 0.7f},
      {3, 3, 5, 6, 3, false, Mask::FullyMasked},
      {2, 4, 4, 4, 2, true, Mask::None},
      {2, 4, 4, 6, 2, true, Mask::FirstKeyOff, 0.5f},
      {1, 2, 3, 3, 1, false, Mask::Padding},
  };
  std::uint64_t seed = 40;
  for (const AttnCase& c : cases) {
    const op::AttentionDims d = op::attention_dims(c.q(), c.kv(), c.args());
    const double scale = op::attention_scale(c.args(), d.head_dim());
    auto q = random_doubles(std::size_t(c.q().numel()), seed);
    auto k = random_doubles(std::size_t(c.kv().numel()), seed + 1);
    auto v = random_doubles(std::size_t(c.kv().numel()), seed + 2);
    const auto w = random_doubles(std::size_t(c.q().numel()), seed + 3);
    std::vector<double> mask;
    for (float m : mask_values(c.b, c.s, c.mask)) mask.push_back(m);
    const double* mp = c.mask == Mask::None ? nullptr : mask.data();
    std::vector<double> y(w.size()), probs(std::size_t(c.probs().numel()));
    auto loss = [&] {
      ref::attention(q.data(), k.data(), v.data(), mp, y.data(), probs.data(), d, c.causal, scale);
      return weighted_sum(y, w);
    };
    loss();  // probs at the unperturbed point
    std::vector<double> dq(q.size(), 0.0), dk(k.size(), 0.0), dv(v.size(), 0.0);
    ref::attention_backward(q.data(), k.data(), v.data(), probs.data(), w.data(), dq.data(), dk.data(), dv.data(), d,
                            scale);
    expect_gradient(q, loss, dq, "attention dq " + c.str());
    expect_gradient(k, loss, dk, "attention dk " + c.str());
    expect_gradient(v, loss, dv, "attention dv " + c.str());
    seed += 10;
  }
}

TEST(Attention, RepeatedRunsAreBitwiseIdentical) {
  const AttnCase c{2, 128, 96, 768, 12, false, Mask::Padding};
  const Forward in = inputs(c, 77);
  Tensor out1 = Tensor::zeros(c.q()), out2 = Tensor::zeros(c.q());
  Tensor p1 = Tensor::zeros(c.probs()), p2 = Tensor::zeros(c.probs());
  cpu_kernels().attention(in.q, in.k, in.v, in.mask, out1, p1, c.args());
  cpu_kernels().attention(in.q, in.k, in.v, in.mask, out2, p2, c.args());
  EXPECT_TRUE(bitwise_equal(out1, out2));
  EXPECT_TRUE(bitwise_equal(p1, p2));
  Tensor dout = random_tensor(c.q(), 78);
  Tensor g1[3] = {Tensor::zeros(c.q()), Tensor::zeros(c.kv()), Tensor::zeros(c.kv())};
  Tensor g2[3] = {Tensor::zeros(c.q()), Tensor::zeros(c.kv()), Tensor::zeros(c.kv())};
  cpu_kernels().attention_backward(in.q, in.k, in.v, p1, dout, g1[0], g1[1], g1[2], c.args());
  cpu_kernels().attention_backward(in.q, in.k, in.v, p1, dout, g2[0], g2[1], g2[2], c.args());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(bitwise_equal(g1[i], g2[i])) << i;
}

TEST(Attention, RejectsBadArguments) {
  Tensor q = Tensor::zeros({2, 3, 16}), k = Tensor::zeros({2, 4, 16}), v = Tensor::zeros({2, 4, 16});
  Tensor out = Tensor::zeros({2, 3, 16}), probs = Tensor::zeros({2, 4, 3, 4}), none;
  expect_error_text([&] { cpu_kernels().attention(q, k, v, none, out, probs, {.n_head = 5}); },
                    "attention: n_head 5 does not divide C = 16 of q (2, 3, 16)");
  expect_error_text([&] { cpu_kernels().attention(q, k, v, none, out, probs, {.n_head = 4, .causal = true}); },
                    "attention: causal attention needs T == S, got q (2, 3, 16) and k (2, 4, 16)");
  expect_error([&] { cpu_kernels().attention(q, k, v, none, out, probs, {.n_head = 0}); },
               "attention: n_head 0 must be at least 1");
  expect_error([&] { cpu_kernels().attention(q, k, v, none, out, probs, {.n_head = 4, .scale = -1.0f}); },
               "attention: scale -1");
  expect_error([&] {
    cpu_kernels().attention(q, k, v, none, out, probs,
                            {.n_head = 4, .scale = std::numeric_limits<float>::quiet_NaN()});
  }, "attention: scale nan");

  Tensor k_bad = Tensor::zeros({2, 4, 8});
  expect_error_text([&] { cpu_kernels().attention(q, k_bad, v, none, out, probs, {.n_head = 4}); },
                    "attention: k has shape (2, 4, 8), expected (2, 4, 16)");
  Tensor k_batch = Tensor::zeros({3, 4, 16});
  expect_error([&] { cpu_kernels().attention(q, k_batch, v, none, out, probs, {.n_head = 4}); },
               "attention: k has shape (3, 4, 16), expected (2, 4, 16)");
  Tensor v_bad = Tensor::zeros({2, 5, 16});
  expect_error([&] { cpu_kernels().attention(q, k, v_bad, none, out, probs, {.n_head = 4}); },
               "attention: v has shape (2, 5, 16), expected (2, 4, 16)");
  Tensor q2 = Tensor::zeros({3, 16});
  expect_error([&] { cpu_kernels().attention(q2, k, v, none, out, probs, {.n_head = 4}); },
               "attention: q (3, 16) has rank 2, expected 3");
  Tensor out_bad = Tensor::zeros({2, 4, 16});
  expect_error([&] { cpu_kernels().attention(q, k, v, none, out_bad, probs, {.n_head = 4}); },
               "attention: out has shape (2, 4, 16), expected (2, 3, 16)");
  Tensor probs_bad = Tensor::zeros({2, 4, 4, 3});
  expect_error([&] { cpu_kernels().attention(q, k, v, none, out, probs_bad, {.n_head = 4}); },
               "attention: probs has shape (2, 4, 4, 3), expected (2, 4, 3, 4)");
  Tensor mask_bad = Tensor::zeros({2, 3});
  expect_error([&] { cpu_kernels().attention(q, k, v, mask_bad, out, probs, {.n_head = 4}); },
               "attention: key_mask has shape (2, 3), expected (2, 4)");
  const float mv[] = {1, 1, 0.5f, 0, 1, 1, 1, 1};
  Tensor mask_half = Tensor::from(mv, {2, 4});
  expect_error([&] { cpu_kernels().attention(q, k, v, mask_half, out, probs, {.n_head = 4}); },
               "attention: key_mask (2, 4) holds 0.500000 at index 2; expected 0 (padding) or 1 (attend)");
  Tensor mask_int = Tensor::zeros({2, 4}, DType::I32);
  expect_error([&] { cpu_kernels().attention(q, k, v, mask_int, out, probs, {.n_head = 4}); },
               "attention: key_mask (2, 4) has element type i32, expected f32");

  Tensor dout = Tensor::zeros({2, 3, 16}), dq = Tensor::zeros({2, 3, 16}), dk = Tensor::zeros({2, 4, 16});
  Tensor dv = Tensor::zeros({2, 4, 16});
  expect_error_text([&] { cpu_kernels().attention_backward(q, k, v, probs, dout, dq, dv, q, {.n_head = 4}); },
                    "attention_backward: dv has shape (2, 3, 16), expected (2, 4, 16)");
  expect_error([&] { cpu_kernels().attention_backward(q, k, v, probs_bad, dout, dq, dk, dv, {.n_head = 4}); },
               "attention_backward: probs has shape (2, 4, 4, 3), expected (2, 4, 3, 4)");
  expect_error([&] { cpu_kernels().attention_backward(q, k, v, probs, out_bad, dq, dk, dv, {.n_head = 4}); },
               "attention_backward: dout has shape (2, 4, 16), expected (2, 3, 16)");
  expect_error([&] { cpu_kernels().attention_backward(q, k, v, probs, dout, none, dk, dv, {.n_head = 4}); },
               "attention_backward: dq is undefined");
  expect_error([&] { cpu_kernels().attention_backward(q, k, v, probs, dout, dq, dk, dv, {.n_head = 3}); },
               "attention_backward: n_head 3 does not divide C = 16");
}

TEST(Attention, CostCountsFlopsAndBytes) {
  const op::AttentionDims d{2, 3, 4, 16, 4};
  const OpCost f = op::attention_cost(d, false, false);
  // 2·4 heads × 12 pairs × (4·D + 5), D = 4
  EXPECT_DOUBLE_EQ(f.flops, 8.0 * 12 * (4 * 4 + 5));
  EXPECT_DOUBLE_EQ(f.bytes, 4.0 * (2 * 3 * 16 * 2 + 2 * 2 * 4 * 16 + 2 * 4 * 3 * 4));
  EXPECT_DOUBLE_EQ(op::attention_cost(d, false, true).bytes, f.bytes + 4.0 * 2 * 4);
  const op::AttentionDims sq{2, 4, 4, 16, 4};  // causal: 10 of the 16 pairs
  EXPECT_DOUBLE_EQ(op::attention_cost(sq, true, false).flops, 8.0 * 10 * (4 * 4 + 5));
  EXPECT_DOUBLE_EQ(op::attention_backward_cost(sq, true).flops, 8.0 * 10 * (8 * 4 + 4));
}

}  // namespace
}  // namespace tandem::test
