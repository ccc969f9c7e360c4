// Optimizer ops: grad_norm, clip_grad_norm (scale_grads) and the fused AdamW step.
#include <tbb/global_control.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "backends/cpu/cpu_kernels.hpp"
#include "ops/optimizer.hpp"
#include "op_test_util.hpp"

namespace tandem::test {
namespace {

// Size 1, primes, a page plus one, and 3,000,017 floats (12 MB per array, 84 MB per AdamW
// step: far beyond cache, many chunks, with a ragged tail).
const std::int64_t kSizes[] = {1, 7, 4097, 3'000'017};

// grad_norm: both sides sum exact float squares in double, in different orders.
constexpr double kNormRelTol = 1e-12;
// scale_grads: one correctly rounded float multiply; the reference's double product of two
// floats is exact and rounds once to the same float, so results must be identical.
constexpr Bound kScaleBound{0.0, 0.0, 0.0};
// AdamW, float FMA evaluation vs the double reference, per step a few ulp of each result:
// p (|p| ≲ 1, update ≲ lr) relative 1e-6 with atol for values near 0; m can cancel
// (β1·m ≈ −(1−β1)·g) so it needs an absolute term: over 5 steps a few ulp of |m| ≲ 0.3
// (ulp 3e-8); v is a sum of non-negative terms, relative only.
constexpr Bound kParamBound{1e-12, 1e-8, 1e-6};
constexpr Bound kMomentBound{1e-12, 1e-7, 1e-6};
constexpr Bound kVarianceBound{1e-12, 1e-30, 1e-6};

void expect_has(const std::string& msg, const std::string& part) {
  EXPECT_NE(msg.find(part), std::string::npos) << "message: " << msg << "\nexpected to contain: " << part;
}

// A contiguous copy of @p src whose first element sits @p offset floats past a 64-byte
// boundary (to exercise the AdamW paths for mismatched and unaligned tensors).
Tensor offset_copy(const Tensor& src, std::int64_t offset) {
  Tensor whole = Tensor::empty(Shape{src.numel() + offset});
  Tensor view = whole.narrow(0, offset, src.numel()).reshape(src.shape());
  view.copy_from(src);
  return view;
}

std::vector<Tensor> clones(const std::vector<Tensor>& ts) {
  std::vector<Tensor> out;
  for (const Tensor& t : ts) out.push_back(t.clone());
  return out;
}

std::vector<Tensor> grad_set(std::uint64_t seed, float scale = 1.0f) {
  std::vector<Tensor> g;
  std::uint64_t s = seed;
  for (std::int64_t n : kSizes) g.push_back(random_tensor(Shape{n}, s++, -scale, scale));
  g.push_back(random_tensor(Shape{3, 5, 7}, s++, -scale, scale));
  g.push_back(random_tensor(Shape{513, 1031}, s++, -scale, scale));
  return g;
}

// ---------------------------------------------------------------- grad_norm

TEST(GradNorm, MatchesReference) {
  std::vector<Tensor> g = grad_set(1);
  const double got = cpu_kernels().grad_norm(g);
  const double want = reference().grad_norm(g);
  EXPECT_NEAR(got, want, kNormRelTol * want);
  // Single tensors, including the awkward sizes on their own.
  for (const Tensor& t : g) {
    std::vector<Tensor> one = {t};
    const double w = reference().grad_norm(one);
    EXPECT_NEAR(cpu_kernels().grad_norm(one), w, kNormRelTol * w) << t.shape().str();
  }
}

TEST(GradNorm, KnownValues) {
  // ‖(3, 4)‖ = 5; n copies of 0.5 have norm sqrt(n)/2.
  std::vector<Tensor> g = {Tensor::from(std::vector<float>{3.0f}, Shape{1}),
                           Tensor::from(std::vector<float>{4.0f}, Shape{1})};
  for (OpKernels* k : {&cpu_kernels(), &reference()}) EXPECT_EQ(k->grad_norm(g), 5.0) << k->name();
  for (std::int64_t n : kSizes) {
    Tensor t = Tensor::empty(Shape{n});
    t.fill(0.5f);
    std::vector<Tensor> one = {t};
    EXPECT_NEAR(cpu_kernels().grad_norm(one), std::sqrt(double(n)) / 2, 1e-12 * std::sqrt(double(n))) << n;
  }
}

TEST(GradNorm, IsDeterministicAcrossThreadCounts) {
  std::vector<Tensor> g = grad_set(2);
  const double a = cpu_kernels().grad_norm(g);
  const double b = cpu_kernels().grad_norm(g);
  double c = 0;
  {
    tbb::global_control one_thread(tbb::global_control::max_allowed_parallelism, 1);
    c = cpu_kernels().grad_norm(g);
  }
  EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0);
  EXPECT_EQ(std::memcmp(&a, &c, sizeof a), 0) << "norm depends on the thread count";
}

TEST(GradNorm, NonFiniteGradientGivesNonFiniteNorm) {
  std::vector<Tensor> g = grad_set(3);
  g[3].data<float>()[12345] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(cpu_kernels().grad_norm(g)));
  g[3].data<float>()[12345] = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(std::isinf(cpu_kernels().grad_norm(g)));
}

TEST(GradNorm, RejectsBadArguments) {
  std::vector<Tensor> none;
  EXPECT_EQ(error_of([&] { cpu_kernels().grad_norm(none); }), "grad_norm: no gradients given (empty list)");
  std::vector<Tensor> g = {Tensor::zeros({3}), Tensor()};
  EXPECT_EQ(error_of([&] { cpu_kernels().grad_norm(g); }), "grad_norm: grads[1] is undefined");
  g[1] = Tensor::zeros({2, 0});
  expect_has(error_of([&] { cpu_kernels().grad_norm(g); }), "grad_norm: grads[1] (2, 0) is empty");
  g[1] = Tensor::zeros({4}, DType::I32);
  expect_has(error_of([&] { cpu_kernels().grad_norm(g); }), "grad_norm: grads[1] (4) has element type i32");
  g[1] = Tensor::zeros({4, 6}).narrow(1, 1, 3);
  expect_has(error_of([&] { cpu_kernels().grad_norm(g); }), "grad_norm: grads[1] (4, 3) is a strided view");
  expect_has(error_of([&] { reference().grad_norm(g); }), "grad_norm: grads[1] (4, 3) is a strided view");
}

// ---------------------------------------------------------------- clip_grad_norm

TEST(ClipGradNorm, ScalesWhenAboveMaxNorm) {
  const std::vector<Tensor> g0 = grad_set(4);
  std::vector<Tensor> g = clones(g0), rg = clones(g0);
  const double norm0 = reference().grad_norm(g0);
  const float max_norm = static_cast<float>(norm0 / 3);
  const double got = cpu_kernels().clip_grad_norm(g, max_norm);
  const double want = reference().clip_grad_norm(rg, max_norm);
  EXPECT_NEAR(got, norm0, kNormRelTol * norm0) << "returns the norm before clipping";
  EXPECT_NEAR(want, norm0, kNormRelTol * norm0);
  for (std::size_t i = 0; i < g.size(); ++i)
    expect_close(g[i], rg[i], kScaleBound, "clip_grad_norm " + g[i].shape().str());
  // Independently: every element scaled by max_norm / (norm + 1e-6) (as torch's
  // clip_grad_norm_), so the clipped norm is max_norm up to that 1e-6.
  const double factor = double(max_norm) / (norm0 + 1e-6);
  for (std::size_t i = 0; i < g.size(); ++i)
    for (std::int64_t j = 0; j < g[i].numel(); j += 997)
      ASSERT_NEAR(g[i].data<float>()[j], g0[i].data<float>()[j] * factor, 1e-6 * std::abs(g0[i].data<float>()[j]));
  EXPECT_NEAR(cpu_kernels().grad_norm(g), max_norm, 1e-5 * max_norm);
}

TEST(ClipGradNorm, LeavesGradientsBelowMaxNormUnchanged) {
  const std::vector<Tensor> g0 = grad_set(5);
  std::vector<Tensor> g = clones(g0);
  const double norm0 = reference().grad_norm(g0);
  for (float max_norm : {static_cast<float>(norm0 * 2), std::numeric_limits<float>::max()}) {
    const double got = cpu_kernels().clip_grad_norm(g, max_norm);
    EXPECT_NEAR(got, norm0, kNormRelTol * norm0);
    for (std::size_t i = 0; i < g.size(); ++i) EXPECT_TRUE(bitwise_equal(g[i], g0[i])) << g[i].shape().str();
  }
}

TEST(ClipGradNorm, NonFiniteNormIsAnErrorAndChangesNothing) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity()}) {
    std::vector<Tensor> g0 = grad_set(6);
    g0[3].data<float>()[2'999'999] = bad;
    for (OpKernels* k : {&cpu_kernels(), &reference()}) {
      std::vector<Tensor> g = clones(g0);
      expect_has(error_of([&] { k->clip_grad_norm(g, 1.0f); }), "clip_grad_norm: gradient norm is ");
      for (std::size_t i = 0; i < g.size(); ++i) EXPECT_TRUE(bitwise_equal(g[i], g0[i])) << k->name();
    }
  }
}

TEST(ClipGradNorm, RejectsBadArguments) {
  std::vector<Tensor> g = {Tensor::zeros({3})};
  EXPECT_EQ(error_of([&] { cpu_kernels().clip_grad_norm(g, 0.0f); }),
            "clip_grad_norm: max_norm is 0, expected a finite value > 0");
  expect_has(error_of([&] { cpu_kernels().clip_grad_norm(g, -1.0f); }), "clip_grad_norm: max_norm is -1");
  expect_has(error_of([&] { cpu_kernels().clip_grad_norm(g, std::nanf("")); }), "clip_grad_norm: max_norm is nan");
  expect_has(error_of([&] { cpu_kernels().clip_grad_norm(g, std::numeric_limits<float>::infinity()); }),
             "clip_grad_norm: max_norm is inf");
  std::vector<Tensor> none;
  EXPECT_EQ(error_of([&] { cpu_kernels().clip_grad_norm(none, 1.0f); }),
            "clip_grad_norm: no gradients given (empty list)");
  g.push_back(Tensor::zeros({2}, DType::I32));
  expect_has(error_of([&] { cpu_kernels().clip_grad_norm(g, 1.0f); }), "clip_grad_norm: grads[1] (2) has element type i32");
}

// ---------------------------------------------------------------- AdamW

struct AdamState {
  Tensor p, m, v;
};

AdamWArgs typical_args() {
  AdamWArgs a;
  a.lr = 1e-3f;
  a.beta1 = 0.9f;
  a.beta2 = 0.999f;
  a.eps = 1e-8f;
  a.weight_decay = 0.01f;
  return a;
}

TEST(AdamW, MatchesReferenceOverSeveralSteps) {
  for (std::int64_t n : kSizes) {
    const Shape s{n};
    Tensor p0 = random_tensor(s, 100);
    Guarded p(p0), m(s, 0.0f), v(s, 0.0f), rp(p0), rm(s, 0.0f), rv(s, 0.0f);
    AdamWArgs args = typical_args();
    for (std::int64_t step = 1; step <= 5; ++step) {
      args.step = step;
      // Gradients of varying scale, so v̂ and the bias corrections matter.
      Tensor g = random_tensor(s, 200 + static_cast<std::uint64_t>(step), -1.0f, 1.0f);
      const float gscale = step % 2 ? 1.0f : 1e-3f;
      Tensor gs = g.clone();
      for (std::int64_t i = 0; i < n; ++i) gs.data<float>()[i] *= gscale;
      cpu_kernels().adamw(p.get(), gs, m.get(), v.get(), args);
      reference().adamw(rp.get(), gs, rm.get(), rv.get(), args);
      const std::string what = "adamw n=" + std::to_string(n) + " step " + std::to_string(step);
      expect_close(p.get(), rp.get(), kParamBound, what + " param");
      expect_close(m.get(), rm.get(), kMomentBound, what + " m");
      expect_close(v.get(), rv.get(), kVarianceBound, what + " v");
    }
    EXPECT_TRUE(p.guards_intact() && m.guards_intact() && v.guards_intact()) << n;
  }
}

TEST(AdamW, UnalignedAndMismatchedTensorsMatchReference) {
  // Tensors that do not start on a cache line, with equal and with different offsets.
  const std::int64_t n = 1'500'007;
  const Shape s{n};
  Tensor p0 = random_tensor(s, 110), m0 = random_tensor(s, 111, -0.1f, 0.1f), v0 = random_tensor(s, 112, 0.0f, 0.01f);
  Tensor g = random_tensor(s, 113);
  AdamWArgs args = typical_args();
  args.step = 7;
  Tensor rp = p0.clone(), rm = m0.clone(), rv = v0.clone();
  reference().adamw(rp, g, rm, rv, args);
  const std::int64_t offsets[][3] = {{3, 3, 3}, {1, 2, 5}, {0, 7, 0}};
  for (const auto& o : offsets) {
    Tensor p = offset_copy(p0, o[0]), m = offset_copy(m0, o[1]), v = offset_copy(v0, o[2]);
    Tensor gg = offset_copy(g, 11);
    cpu_kernels().adamw(p, gg, m, v, args);
    const std::string what = "adamw offsets " + std::to_string(o[0]) + "," + std::to_string(o[1]) + "," +
                             std::to_string(o[2]);
    expect_close(p, rp, kParamBound, what + " param");
    expect_close(m, rm, kMomentBound, what + " m");
    expect_close(v, rv, kVarianceBound, what + " v");
  }
}

TEST(AdamW, FirstStepIsNormalisedGradientDescent) {
  // From m = v = 0 at t = 1 the bias corrections give m̂ = g and v̂ = g², so
  // p1 = p0 − lr·(g / (|g| + eps) + wd·p0), m1 = (1−β1)·g, v1 = (1−β2)·g².
  const std::int64_t n = 4097;
  const Shape s{n};
  Tensor p0 = random_tensor(s, 120), g = random_tensor(s, 121);
  AdamWArgs args = typical_args();
  args.lr = 0.05f;
  args.weight_decay = 0.1f;
  Tensor wp = Tensor::empty(s), wm = Tensor::empty(s), wv = Tensor::empty(s);
  for (std::int64_t i = 0; i < n; ++i) {
    const double gi = g.data<float>()[i], pi = p0.data<float>()[i];
    wp.data<float>()[i] = static_cast<float>(
        pi - double(args.lr) * (gi / (std::abs(gi) + double(args.eps)) + double(args.weight_decay) * pi));
    wm.data<float>()[i] = static_cast<float>((1 - double(args.beta1)) * gi);
    wv.data<float>()[i] = static_cast<float>((1 - double(args.beta2)) * gi * gi);
  }
  for (OpKernels* k : {&cpu_kernels(), &reference()}) {
    Tensor p = p0.clone(), m = Tensor::zeros(s), v = Tensor::zeros(s);
    k->adamw(p, g, m, v, args);
    const std::string what = std::string(k->name()) + " first step";
    expect_close(p, wp, kParamBound, what + " param");
    expect_close(m, wm, kMomentBound, what + " m");
    expect_close(v, wv, kVarianceBound, what + " v");
  }
}

TEST(AdamW, WeightDecayAloneShrinksParams) {
  // g = 0 and m = v = 0: the Adam term is 0/(0+eps) = 0, so p ← p·(1 − lr·wd).
  const std::int64_t n = 3'000'017;
  const Shape s{n};
  Tensor p0 = random_tensor(s, 130), g = Tensor::zeros(s);
  AdamWArgs args = typical_args();
  args.lr = 0.01f;
  args.weight_decay = 0.5f;
  args.step = 3;
  Tensor want = p0.clone();
  const double decay = 1 - double(args.lr) * double(args.weight_decay);
  for (std::int64_t i = 0; i < n; ++i) want.data<float>()[i] = static_cast<float>(double(p0.data<float>()[i]) * decay);
  for (OpKernels* k : {&cpu_kernels(), &reference()}) {
    Tensor p = p0.clone(), m = Tensor::zeros(s), v = Tensor::zeros(s);
    k->adamw(p, g, m, v, args);
    expect_close(p, want, Bound{1e-14, 0.0, 2e-7}, std::string(k->name()) + " decay");
    EXPECT_TRUE(bitwise_equal(m, Tensor::zeros(s)) && bitwise_equal(v, Tensor::zeros(s))) << k->name();
  }
}

TEST(AdamW, ZeroLearningRateKeepsParamsAndUpdatesMoments) {
  const Shape s{4097};
  Tensor p0 = random_tensor(s, 140), g = random_tensor(s, 141);
  AdamWArgs args = typical_args();
  args.lr = 0.0f;
  args.beta1 = 0.0f;  // m ← g exactly
  args.beta2 = 0.0f;  // v ← g² exactly
  Tensor p = p0.clone(), m = random_tensor(s, 142), v = random_tensor(s, 143, 0.0f, 1.0f);
  cpu_kernels().adamw(p, g, m, v, args);
  EXPECT_TRUE(bitwise_equal(p, p0));
  EXPECT_TRUE(bitwise_equal(m, g));
  for (std::int64_t i = 0; i < s.numel(); ++i)
    ASSERT_EQ(v.data<float>()[i], g.data<float>()[i] * g.data<float>()[i]) << i;
}

TEST(AdamW, LateStepsAndExtremeBetas) {
  // Bias corrections near 1 (step 10^6) and near 0 (β close to 1, step 1).
  const Shape s{4097};
  for (auto [b1, b2, step] : {std::tuple{0.9f, 0.999f, std::int64_t{1'000'000}}, std::tuple{0.999f, 0.99999f, std::int64_t{1}},
                              std::tuple{0.5f, 0.9f, std::int64_t{2}}}) {
    AdamWArgs args = typical_args();
    args.beta1 = b1;
    args.beta2 = b2;
    args.step = step;
    Tensor p0 = random_tensor(s, 150), m0 = random_tensor(s, 151, -0.1f, 0.1f), v0 = random_tensor(s, 152, 0.0f, 0.01f);
    Tensor g = random_tensor(s, 153);
    Tensor p = p0.clone(), m = m0.clone(), v = v0.clone(), rp = p0.clone(), rm = m0.clone(), rv = v0.clone();
    cpu_kernels().adamw(p, g, m, v, args);
    reference().adamw(rp, g, rm, rv, args);
    const std::string what = "adamw step " + std::to_string(step) + " beta1 " + std::to_string(b1);
    expect_close(p, rp, kParamBound, what + " param");
    expect_close(m, rm, kMomentBound, what + " m");
    expect_close(v, rv, kVarianceBound, what + " v");
  }
}

TEST(AdamW, NonFiniteGradIsAnErrorAndLeavesStateUntouched) {
  const float bad[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity()};
  for (std::int64_t n : {std::int64_t{7}, std::int64_t{3'000'017}}) {
    const Shape s{n};
    const Tensor p0 = random_tensor(s, 160), m0 = random_tensor(s, 161), v0 = random_tensor(s, 162, 0.0f, 1.0f);
    for (float b : bad) {
      for (std::int64_t where : {std::int64_t{0}, n / 2, n - 1}) {
        Tensor g = random_tensor(s, 163);
        g.data<float>()[where] = b;
        for (OpKernels* k : {&cpu_kernels(), &reference()}) {
          Tensor p = p0.clone(), m = m0.clone(), v = v0.clone();
          EXPECT_EQ(error_of([&] { k->adamw(p, g, m, v, typical_args()); }),
                    "adamw: grad " + s.str() + " contains NaN or Inf")
              << k->name() << " n=" << n << " at " << where;
          EXPECT_TRUE(bitwise_equal(p, p0) && bitwise_equal(m, m0) && bitwise_equal(v, v0))
              << k->name() << ": state changed, n=" << n << " at " << where;
        }
      }
    }
  }
}

TEST(AdamW, IsDeterministic) {
  const Shape s{3'000'017};
  Tensor p0 = random_tensor(s, 170), g = random_tensor(s, 171);
  AdamState a{p0.clone(), Tensor::zeros(s), Tensor::zeros(s)}, b{p0.clone(), Tensor::zeros(s), Tensor::zeros(s)};
  cpu_kernels().adamw(a.p, g, a.m, a.v, typical_args());
  cpu_kernels().adamw(b.p, g, b.m, b.v, typical_args());
  EXPECT_TRUE(bitwise_equal(a.p, b.p) && bitwise_equal(a.m, b.m) && bitwise_equal(a.v, b.v));
}

TEST(AdamW, RejectsBadArguments) {
  const Shape s{3, 4};
  Tensor p = Tensor::zeros(s), g = Tensor::zeros(s), m = Tensor::zeros(s), v = Tensor::zeros(s);
  auto run = [&](const AdamWArgs& a) { return error_of([&] { cpu_kernels().adamw(p, g, m, v, a); }); };
  AdamWArgs a = typical_args();
  a.lr = -1.0f;
  EXPECT_EQ(run(a), "adamw: lr is -1, expected a finite value >= 0");
  a = typical_args();
  a.beta1 = 1.0f;
  EXPECT_EQ(run(a), "adamw: beta1 is 1, expected a value in [0, 1)");
  a = typical_args();
  a.lr = std::numeric_limits<float>::infinity();
  expect_has(run(a), "adamw: lr is inf");
  a = typical_args();
  a.beta2 = -0.5f;
  expect_has(run(a), "adamw: beta2 is -0.5");
  a = typical_args();
  a.beta2 = std::nanf("");
  expect_has(run(a), "adamw: beta2 is nan");
  a = typical_args();
  a.eps = 0.0f;
  expect_has(run(a), "adamw: eps is 0, expected a finite value > 0");
  a = typical_args();
  a.weight_decay = -0.01f;
  expect_has(run(a), "adamw: weight_decay is -0.01");
  a = typical_args();
  a.step = 0;
  expect_has(run(a), "adamw: step is 0, expected >= 1");

  Tensor wrong = Tensor::zeros({4, 3});
  EXPECT_EQ(error_of([&] { cpu_kernels().adamw(p, g, wrong, v, typical_args()); }),
            "adamw: m has shape (4, 3), expected (3, 4)");
  expect_has(error_of([&] { cpu_kernels().adamw(p, wrong, m, v, typical_args()); }), "adamw: grad has shape (4, 3)");
  Tensor ints = Tensor::zeros(s, DType::I32);
  expect_has(error_of([&] { cpu_kernels().adamw(p, g, m, ints, typical_args()); }),
             "adamw: v (3, 4) has element type i32");
  Tensor empty = Tensor::zeros({0, 4});
  expect_has(error_of([&] { cpu_kernels().adamw(empty, empty, empty, empty, typical_args()); }),
             "adamw: param (0, 4) is empty");
  Tensor strided = Tensor::zeros({3, 8}).narrow(1, 0, 4);
  expect_has(error_of([&] { cpu_kernels().adamw(strided, g, m, v, typical_args()); }),
             "adamw: param (3, 4) is a strided view");
  EXPECT_EQ(error_of([&] { cpu_kernels().adamw(p, g, m, m, typical_args()); }),
            "adamw: m and v (3, 4) share memory");
  Tensor big = Tensor::zeros({24});
  Tensor half1 = big.narrow(0, 0, 12).reshape(s), half2 = big.narrow(0, 6, 12).reshape(s);
  expect_has(error_of([&] { cpu_kernels().adamw(half1, g, half2, v, typical_args()); }),
             "adamw: param and m (3, 4) share memory");
  // Same checks on the reference backend.
  EXPECT_EQ(error_of([&] { reference().adamw(p, g, wrong, v, typical_args()); }),
            "adamw: m has shape (4, 3), expected (3, 4)");
}

}  // namespace
}  // namespace tandem::test
