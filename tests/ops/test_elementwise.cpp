// Element-wise ops: residual add, GELU, dropout, bias add.
#include <tbb/global_control.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "backends/cpu/cpu_kernels.hpp"
#include "ops/bias.hpp"
#include "ops/dropout.hpp"
#include "ops/gelu.hpp"
#include "ops/residual.hpp"
#include "op_test_util.hpp"

namespace tandem::test {
namespace {

const Shape kShapes[] = {Shape{1}, Shape{7}, Shape{3, 5, 7}, Shape{2, 3, 5, 7}, Shape{513, 1031}};

// Addition is exact up to one rounding in both float paths.
constexpr Bound kResidualBound{1e-14, 0.0, 1e-7};

TEST(ResidualAdd, MatchesReference) {
  for (const Shape& s : kShapes) {
    Tensor a = random_tensor(s, 1), b = random_tensor(s, 2);
    Guarded got(s), want(s);
    cpu_kernels().residual_add(a, b, got.get());
    reference().residual_add(a, b, want.get());
    expect_close(got.get(), want.get(), kResidualBound, "residual_add " + s.str());
    EXPECT_TRUE(got.guards_intact()) << s.str();
  }
}

TEST(ResidualAdd, BackwardAccumulatesAndMatchesReference) {
  for (const Shape& s : kShapes) {
    Tensor dout = random_tensor(s, 3);
    Tensor da0 = random_tensor(s, 4), db0 = random_tensor(s, 5);
    Guarded da(da0), db(db0), rda(da0), rdb(db0);
    cpu_kernels().residual_add_backward(dout, da.get(), db.get());
    reference().residual_add_backward(dout, rda.get(), rdb.get());
    expect_close(da.get(), rda.get(), kResidualBound, "residual_add_backward da " + s.str());
    expect_close(db.get(), rdb.get(), kResidualBound, "residual_add_backward db " + s.str());
    EXPECT_TRUE(da.guards_intact() && db.guards_intact());
  }
}

TEST(ResidualAdd, GradientMatchesFiniteDifferences) {
  const std::size_t n = 11;
  auto a = random_doubles(n, 6), b = random_doubles(n, 7), w = random_doubles(n, 8);
  std::vector<double> y(n);
  auto loss = [&] {
    ref::residual_add(a.data(), b.data(), y.data(), std::int64_t(n));
    return weighted_sum(y, w);
  };
  std::vector<double> da(n, 0.0), db(n, 0.0);
  ref::residual_add_backward(w.data(), da.data(), db.data(), std::int64_t(n));
  expect_gradient(a, loss, da, "residual_add da");
  expect_gradient(b, loss, db, "residual_add db");
}

TEST(ResidualAdd, RejectsMismatchedShapes) {
  Tensor a = Tensor::zeros({3, 4}), b = Tensor::zeros({4, 3}), out = Tensor::zeros({3, 4});
  try {
    cpu_kernels().residual_add(a, b, out);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "residual_add: b has shape (4, 3), expected (3, 4)");
  }
}

// The message of the tandem::Error that f throws, or "no error".
// ---------------------------------------------------------------------------------------
// GELU

// x in [-8, 8]. Both paths avoid the cancellation of 1 + tanh / 1 + erf, so the error is
// relative everywhere: f32 exp(−2|u|) (tanh) and exp(−x²/2 + r) (erf, a fit with 1.2e-7
// relative error) inherit the absolute error of their argument, about |argument|·2⁻²⁴
// with |argument| <= 50, plus a few roundings: rtol 1.5e-5 covers it (measured up to
// 1.1e-5 near x = −9). atol only for outputs that underflow.
constexpr Bound kGeluBound{1e-12, 1e-30, 1.5e-5};
// Backward: the same relative errors of the two terms of gelu', which cancel near its
// zero (x ≈ −0.75), hence an absolute part: |dout| <= 1 times a few f32 ulp of terms
// of size <= 1; the sum with |dx| <= 1 adds an ulp (6e-8).
constexpr Bound kGeluBackwardBound{1e-12, 2.5e-7, 1.5e-5};

const GeluKind kKinds[] = {GeluKind::Tanh, GeluKind::Erf};
std::string kind_name(GeluKind k) { return k == GeluKind::Tanh ? "tanh" : "erf"; }

TEST(Gelu, MatchesReference) {
  for (GeluKind kind : kKinds)
    for (const Shape& s : kShapes) {
      const std::string what = "gelu " + kind_name(kind) + " " + s.str();
      Tensor x = random_tensor(s, 21, -8.0f, 8.0f);
      Guarded got(s, 3.0f), want(s);
      cpu_kernels().gelu(x, got.get(), kind);
      reference().gelu(x, want.get(), kind);
      expect_close(got.get(), want.get(), kGeluBound, what);
      EXPECT_TRUE(got.guards_intact()) << what;
    }
}

TEST(Gelu, BackwardAccumulatesAndMatchesReference) {
  for (GeluKind kind : kKinds)
    for (const Shape& s : kShapes) {
      const std::string what = "gelu_backward " + kind_name(kind) + " " + s.str();
      Tensor x = random_tensor(s, 22, -8.0f, 8.0f), dout = random_tensor(s, 23), dx0 = random_tensor(s, 24);
      Guarded got(dx0), want(dx0);
      cpu_kernels().gelu_backward(x, dout, got.get(), kind);
      reference().gelu_backward(x, dout, want.get(), kind);
      expect_close(got.get(), want.get(), kGeluBackwardBound, what);
      EXPECT_TRUE(got.guards_intact()) << what;
    }
}

TEST(Gelu, KnownValues) {
  // Φ(±1) = 0.8413447460685429 / 0.15865525393145707; tanh form from PyTorch's
  // gelu(approximate='tanh'): 0.8411919906082768 and −0.15880800939172324.
  Tensor x = Tensor::from(std::vector<float>{-1.0f, 0.0f, 1.0f, 10.0f, -10.0f}, {5});
  Tensor out = Tensor::zeros({5});
  cpu_kernels().gelu(x, out, GeluKind::Erf);
  const float* o = out.data<float>();
  EXPECT_NEAR(o[0], -0.15865525393145707, 1e-7);
  EXPECT_EQ(o[1], 0.0f);
  EXPECT_NEAR(o[2], 0.8413447460685429, 1e-7);
  EXPECT_NEAR(o[3], 10.0, 1e-6);
  EXPECT_NEAR(o[4], 0.0, 1e-20);
  cpu_kernels().gelu(x, out, GeluKind::Tanh);
  EXPECT_NEAR(o[0], -0.15880800939172324, 1e-7);
  EXPECT_EQ(o[1], 0.0f);
  EXPECT_NEAR(o[2], 0.8411919906082768, 1e-7);
  EXPECT_NEAR(o[3], 10.0, 1e-6);
  EXPECT_NEAR(o[4], 0.0, 1e-20);
  // gelu'(0) = 0.5 for both forms.
  Tensor dx = Tensor::zeros({5}), ones = Tensor::zeros({5});
  ones.fill(1.0f);
  for (GeluKind kind : kKinds) {
    dx.fill(0.0f);
    cpu_kernels().gelu_backward(x, ones, dx, kind);
    EXPECT_NEAR(dx.data<float>()[1], 0.5, 1e-7) << kind_name(kind);
    EXPECT_NEAR(dx.data<float>()[3], 1.0, 1e-6) << kind_name(kind);
    EXPECT_NEAR(dx.data<float>()[4], 0.0, 1e-6) << kind_name(kind);
  }
}

TEST(Gelu, ExtremeInputsStayFinite) {
  // x³ and x² overflow f32 here; the outputs and gradients must not (0·inf = NaN traps).
  const std::vector<float> v{-1e30f, -1e20f, -1e13f, -1e4f, -50.0f, -9.0f, 0.0f, 9.0f, 50.0f, 1e4f, 1e13f, 1e20f, 1e30f};
  const Shape s{std::int64_t(v.size())};
  Tensor x = Tensor::from(v, s), dout = Tensor::zeros(s);
  dout.fill(1.0f);
  for (GeluKind kind : kKinds) {
    Tensor got = Tensor::zeros(s), want = Tensor::zeros(s);
    cpu_kernels().gelu(x, got, kind);
    reference().gelu(x, want, kind);
    expect_close(got, want, kGeluBound, "gelu extremes " + kind_name(kind));
    Tensor dgot = Tensor::zeros(s), dwant = Tensor::zeros(s);
    cpu_kernels().gelu_backward(x, dout, dgot, kind);
    reference().gelu_backward(x, dout, dwant, kind);
    expect_close(dgot, dwant, kGeluBackwardBound, "gelu_backward extremes " + kind_name(kind));
  }
}

TEST(Gelu, GradientMatchesFiniteDifferences) {
  for (GeluKind kind : kKinds) {
    const std::size_t n = 17;
    auto x = random_doubles(n, 25, -4.0, 4.0), w = random_doubles(n, 26);
    std::vector<double> y(n);
    auto loss = [&] {
      ref::gelu(x.data(), y.data(), std::int64_t(n), kind);
      return weighted_sum(y, w);
    };
    std::vector<double> dx(n, 0.0);
    ref::gelu_backward(x.data(), w.data(), dx.data(), std::int64_t(n), kind);
    expect_gradient(x, loss, dx, "gelu dx " + kind_name(kind));
  }
}

TEST(Gelu, RejectsBadArguments) {
  Tensor x = Tensor::zeros({3, 4}), out = Tensor::zeros({4, 3}), ok = Tensor::zeros({3, 4});
  EXPECT_EQ(error_of([&] { cpu_kernels().gelu(x, out, GeluKind::Tanh); }),
            "gelu: out has shape (4, 3), expected (3, 4)");
  EXPECT_EQ(error_of([&] { cpu_kernels().gelu(x, ok, static_cast<GeluKind>(7)); }),
            "gelu: kind 7 is not a GeluKind (Tanh or Erf)");
  const std::string msg = error_of([&] { cpu_kernels().gelu_backward(x, out, ok, GeluKind::Erf); });
  EXPECT_NE(msg.find("gelu_backward: dout has shape (4, 3), expected (3, 4)"), std::string::npos) << msg;
  Tensor none;
  EXPECT_NE(error_of([&] { cpu_kernels().gelu(none, ok, GeluKind::Erf); }).find("gelu: x is undefined"),
            std::string::npos);
  Tensor ids = Tensor::zeros({3, 4}, DType::I32);
  EXPECT_NE(error_of([&] { cpu_kernels().gelu(ids, ok, GeluKind::Erf); }).find("gelu: x (3, 4) has element type i32"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------
// Bias

// Forward: one correctly rounded f32 addition in both paths, hence identical.
constexpr Bound kBiasBound{0.0, 0.0, 0.0};
// Backward: both sum the column in double and round once to f32, so they differ only by
// double roundings (≈ N·2⁻⁵³·Σ|dout|, far below 1e-9) and at most one f32 ulp.
constexpr Bound kBiasBackwardBound{1e-14, 1e-9, 0x1p-23};

TEST(BiasAdd, MatchesReference) {
  for (const Shape& s : kShapes) {
    Tensor x = random_tensor(s, 31), bias = random_tensor({s[-1]}, 32);
    Guarded got(s, 5.0f), want(s);
    cpu_kernels().bias_add(x, bias, got.get());
    reference().bias_add(x, bias, want.get());
    expect_close(got.get(), want.get(), kBiasBound, "bias_add " + s.str());
    EXPECT_TRUE(got.guards_intact()) << s.str();
  }
}

TEST(BiasAdd, BackwardAccumulatesAndMatchesReference) {
  for (const Shape& s : {Shape{1}, Shape{7}, Shape{3, 5, 7}, Shape{2, 3, 5, 7}, Shape{1031, 1031}, Shape{100003, 3}}) {
    Tensor dout = random_tensor(s, 33), db0 = random_tensor({s[-1]}, 34);
    Guarded got(db0), want(db0);
    cpu_kernels().bias_backward(dout, got.get());
    reference().bias_backward(dout, want.get());
    expect_close(got.get(), want.get(), kBiasBackwardBound, "bias_backward " + s.str());
    EXPECT_TRUE(got.guards_intact()) << s.str();
  }
}

TEST(BiasAdd, BackwardIsDeterministicAcrossThreadCounts) {
  Tensor dout = random_tensor({4099, 33}, 35);
  auto run = [&] {
    Tensor db = random_tensor({33}, 36);
    cpu_kernels().bias_backward(dout, db);
    return db;
  };
  Tensor a = run(), b = run();
  EXPECT_TRUE(bitwise_equal(a, b)) << "run to run";
  tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
  EXPECT_TRUE(bitwise_equal(a, run())) << "one thread vs many";
}

TEST(BiasAdd, GradientMatchesFiniteDifferences) {
  const std::int64_t N = 3, C = 5;
  auto x = random_doubles(std::size_t(N * C), 37), bias = random_doubles(std::size_t(C), 38);
  auto w = random_doubles(std::size_t(N * C), 39);
  std::vector<double> y(w.size());
  auto loss = [&] {
    ref::bias_add(x.data(), bias.data(), y.data(), N, C);
    return weighted_sum(y, w);
  };
  std::vector<double> dbias(std::size_t(C), 0.0);
  ref::bias_backward(w.data(), dbias.data(), N, C);
  expect_gradient(bias, loss, dbias, "bias_add dbias");
  expect_gradient(x, loss, w, "bias_add dx = dout");
}

TEST(BiasAdd, RejectsBadShapes) {
  Tensor x = Tensor::zeros({3, 5}), out = Tensor::zeros({3, 5}), none;
  Tensor b4 = Tensor::zeros({4});
  EXPECT_EQ(error_of([&] { cpu_kernels().bias_add(x, b4, out); }), "bias_add: bias has shape (4), expected (5)");
  Tensor scalar = Tensor::zeros(Shape{}), b1 = Tensor::zeros({1});
  EXPECT_EQ(error_of([&] { cpu_kernels().bias_add(scalar, b1, out); }), "bias_add: x () has rank 0, expected 1 to 4");
  Tensor b5 = Tensor::zeros({5}), out_bad = Tensor::zeros({5, 3});
  EXPECT_NE(error_of([&] { cpu_kernels().bias_add(x, b5, out_bad); }).find("bias_add: out has shape (5, 3)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { cpu_kernels().bias_add(x, none, out); }).find("bias_add: bias is undefined"),
            std::string::npos);
  EXPECT_NE(error_of([&] { cpu_kernels().bias_backward(x, b4); }).find("bias_backward: dbias has shape (4), expected (5)"),
            std::string::npos);
  Tensor empty = Tensor::zeros({0, 5});
  EXPECT_NE(error_of([&] { cpu_kernels().bias_backward(empty, b5); }).find("bias_backward: dout (0, 5) is empty"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------
// Dropout

// Kept elements: x·float(1/(1−p)) (CPU) against x/(1−p) rounded once (reference): two
// roundings against one, within one ulp. Dropped elements must be exactly 0 in both,
// which atol = 0 enforces.
constexpr Bound kDropoutBound{1e-14, 0.0, 0x1p-23};

// Number of exact zeros of t.
std::int64_t zeros_in(const Tensor& t) {
  std::int64_t k = 0;
  for (std::int64_t i = 0; i < t.numel(); ++i) k += t.data<float>()[i] == 0.0f;
  return k;
}

// A tensor of values in [0.5, 1.5): never 0, so every 0 in the output is a dropped element.
Tensor nonzero_tensor(const Shape& s, std::uint64_t seed) { return random_tensor(s, seed, 0.5f, 1.5f); }

TEST(Dropout, MatchesReference) {
  for (float p : {0.0f, 0.1f, 0.5f, 0.9f})
    for (const Shape& s : kShapes) {
      const std::string what = "dropout p=" + std::to_string(p) + " " + s.str();
      const DropoutArgs args{p, 1234};
      Tensor x = random_tensor(s, 41);
      Guarded got(s, 9.0f), want(s);
      cpu_kernels().dropout(x, got.get(), args);
      reference().dropout(x, want.get(), args);
      expect_close(got.get(), want.get(), kDropoutBound, what);
      EXPECT_TRUE(got.guards_intact()) << what;
    }
}

TEST(Dropout, BackwardAccumulatesAndMatchesReference) {
  for (float p : {0.0f, 0.25f, 0.75f})
    for (const Shape& s : kShapes) {
      const std::string what = "dropout_backward p=" + std::to_string(p) + " " + s.str();
      const DropoutArgs args{p, 99};
      Tensor dout = random_tensor(s, 42), dx0 = random_tensor(s, 43);
      Guarded got(dx0), want(dx0);
      cpu_kernels().dropout_backward(dout, got.get(), args);
      reference().dropout_backward(dout, want.get(), args);
      // dx0 + dout·float(1/(1−p)): the added term, of size <= 1/(1−p) <= 4, carries the
      // rounding of the scale and of the product (2·2⁻²⁴·4 = 2⁻²¹ absolute, which |dx0| <= 1
      // may leave uncancelled), then the sum rounds once more (rtol 2⁻²³).
      expect_close(got.get(), want.get(), Bound{1e-12, 0x1p-21, 0x1p-23}, what);
      EXPECT_TRUE(got.guards_intact()) << what;
    }
}

TEST(Dropout, ZeroProbabilityIsIdentity) {
  Tensor x = random_tensor({3, 5, 7}, 44), out = Tensor::zeros({3, 5, 7});
  cpu_kernels().dropout(x, out, DropoutArgs{0.0f, 5});
  EXPECT_TRUE(bitwise_equal(out, x));
}

TEST(Dropout, DropsFractionPAndScalesTheRest) {
  // n = 2²² Bernoulli(p) draws: the dropped count has standard deviation
  // σ = sqrt(n·p·(1−p)) <= 1024; |count − n·p| <= 6σ fails by chance with probability
  // ~2e-9. Adjacent pairs both dropped: expected n·p², and with the overlap of pairs the
  // variance is below 3·n·p²; same 6σ rule.
  const std::int64_t n = std::int64_t{1} << 22;
  Tensor x = nonzero_tensor({n}, 45), out = Tensor::zeros({n});
  for (float p : {0.05f, 0.1f, 0.5f, 0.9f}) {
    cpu_kernels().dropout(x, out, DropoutArgs{p, 777});
    const float* o = out.data<float>();
    const float* xv = x.data<float>();
    std::int64_t dropped = 0, pairs = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const bool d = o[i] == 0.0f;
      dropped += d;
      if (d && i + 1 < n && o[i + 1] == 0.0f) ++pairs;
      if (!d) {
        ASSERT_NEAR(o[i], double(xv[i]) / (1.0 - double(p)), 2e-7 * std::abs(o[i])) << "p=" << p << " i=" << i;
      }
    }
    const double dn = double(n), pp = double(p);
    EXPECT_NEAR(double(dropped), dn * pp, 6 * std::sqrt(dn * pp * (1 - pp))) << "p=" << p;
    EXPECT_NEAR(double(pairs), dn * pp * pp, 6 * std::sqrt(3 * dn * pp * pp)) << "p=" << p;
  }
}

TEST(Dropout, MaskDependsOnlyOnSeed) {
  // Same seed: the same mask, bit for bit. Another seed: an independent mask, so the two
  // masks disagree on a fraction 2p(1−p) of elements (6σ bound as above).
  const std::int64_t n = std::int64_t{1} << 20;
  const float p = 0.3f;
  Tensor x = nonzero_tensor({n}, 46);
  Tensor a = Tensor::zeros({n}), b = Tensor::zeros({n}), c = Tensor::zeros({n});
  cpu_kernels().dropout(x, a, DropoutArgs{p, 1});
  cpu_kernels().dropout(x, b, DropoutArgs{p, 1});
  EXPECT_TRUE(bitwise_equal(a, b));
  {
    tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
    cpu_kernels().dropout(x, b, DropoutArgs{p, 1});
    EXPECT_TRUE(bitwise_equal(a, b)) << "one thread vs many";
  }
  for (std::uint64_t seed : {std::uint64_t{2}, std::uint64_t{1} << 40, ~std::uint64_t{0}}) {
    cpu_kernels().dropout(x, c, DropoutArgs{p, seed});
    std::int64_t differ = 0;
    for (std::int64_t i = 0; i < n; ++i) differ += (a.data<float>()[i] == 0.0f) != (c.data<float>()[i] == 0.0f);
    const double q = 2.0 * p * (1.0 - p), dn = double(n);
    EXPECT_NEAR(double(differ), dn * q, 6 * std::sqrt(dn * q * (1 - q))) << "seed " << seed;
  }
}

TEST(Dropout, BackwardUsesTheForwardMask) {
  // The backward of dout = x from dx = 0 equals the forward of x, element for element.
  const DropoutArgs args{0.4f, 2024};
  for (const Shape& s : kShapes) {
    Tensor x = nonzero_tensor(s, 47), out = Tensor::zeros(s), dx = Tensor::zeros(s);
    cpu_kernels().dropout(x, out, args);
    cpu_kernels().dropout_backward(x, dx, args);
    EXPECT_TRUE(bitwise_equal(out, dx)) << s.str();
    if (s.numel() > 100) {
      EXPECT_GT(zeros_in(out), 0) << s.str();
      EXPECT_LT(zeros_in(out), s.numel()) << s.str();
    }
  }
}

TEST(Dropout, GradientMatchesFiniteDifferences) {
  const std::size_t n = 23;
  const float p = 0.35f;
  auto x = random_doubles(n, 48), w = random_doubles(n, 49);
  std::vector<double> y(n);
  auto loss = [&] {
    ref::dropout(x.data(), y.data(), std::int64_t(n), p, 31337);
    return weighted_sum(y, w);
  };
  std::vector<double> dx(n, 0.0);
  ref::dropout_backward(w.data(), dx.data(), std::int64_t(n), p, 31337);
  expect_gradient(x, loss, dx, "dropout dx");
}

TEST(Dropout, RejectsBadProbabilityAndShapes) {
  Tensor x = Tensor::zeros({3, 4}), out = Tensor::zeros({3, 4});
  EXPECT_EQ(error_of([&] { cpu_kernels().dropout(x, out, DropoutArgs{1.0f, 0}); }), "dropout: p = 1 must be in [0, 1)");
  for (float p : {-0.1f, 1.5f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    const std::string msg = error_of([&] { cpu_kernels().dropout(x, out, DropoutArgs{p, 0}); });
    EXPECT_EQ(msg.rfind("dropout: p = ", 0), 0u) << msg;
    const std::string bmsg = error_of([&] { cpu_kernels().dropout_backward(x, out, DropoutArgs{p, 0}); });
    EXPECT_EQ(bmsg.rfind("dropout_backward: p = ", 0), 0u) << bmsg;
  }
  Tensor bad = Tensor::zeros({4, 3});
  EXPECT_EQ(error_of([&] { cpu_kernels().dropout(x, bad, DropoutArgs{0.1f, 0}); }),
            "dropout: out has shape (4, 3), expected (3, 4)");
  EXPECT_NE(error_of([&] { cpu_kernels().dropout_backward(x, bad, DropoutArgs{0.1f, 0}); })
                .find("dropout_backward: dx has shape (4, 3)"),
            std::string::npos);
}

}  // namespace
}  // namespace tandem::test
