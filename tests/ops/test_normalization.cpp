// Row-wise normalisations: LayerNorm and softmax.
#include <tbb/global_control.h>

#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "backends/cpu/cpu_kernels.hpp"
#include "ops/layernorm.hpp"
#include "ops/softmax.hpp"
#include "op_test_util.hpp"

namespace tandem::test {
namespace {

// The message of the tandem::Error that f throws, or "no error".
// Size 1, primes, rank 4, GPT-2's width, and one whose x exceeds 4 MiB.
const Shape kShapes[] = {Shape{1}, Shape{7}, Shape{3, 5, 7}, Shape{2, 3, 5, 7}, Shape{64, 768}, Shape{1031, 1031}};

Shape rows_of(const Shape& s) { return Shape{s.rows()}; }
Shape cols_of(const Shape& s) { return Shape{s[-1]}; }

// ---------------------------------------------------------------------------------------
// LayerNorm. Inputs in [-3, 3] (optionally on an offset), weight and bias in [-1, 1].

// out = xhat·w + b with |xhat·w| up to ~2: a few f32 ulp of 2 absolute (atol ~8 ulp), and
// the relative errors of mean and rstd carried into xhat (rtol).
constexpr Bound kLnOutBound{1e-12, 2e-6, 1e-5};
// mean: one f32 rounding (rtol 2 ulp, one ulp of 1000 for the offset rows) plus the f32
// sum of C deviations of size <= 6 divided by C (atol); means near 0 make the NMSE large.
constexpr Bound kLnMeanBound{1e-10, 2e-6, 0x1p-22};
// rstd: 1/sqrt of a variance summed in f32 with a few ulp of relative error.
constexpr Bound kLnRstdBound{1e-12, 0.0, 1e-6};
// dx: a few f32 roundings of terms of size <= ~4·rstd, added to |dx0| <= 1.
constexpr Bound kLnDxBound{1e-12, 1e-6, 1e-5};
// dweight: N products dout·xhat, each with the few-ulp error of the f32 xhat (|xhat| <= ~2),
// summed in double: independent errors grow like sqrt(N)·8·2⁻²⁴·2 <= 3e-5 for N = 1031.
constexpr Bound kLnDweightBound{1e-12, 3e-5, 1e-5};
// dbias: both sum the column in double and round once (see bias_backward).
constexpr Bound kLnDbiasBound{1e-14, 1e-9, 0x1p-23};

constexpr float kEps = 1e-5f;

void check_layernorm_forward(const Shape& s, float offset, std::uint64_t seed) {
  const std::string what = "layernorm " + s.str() + (offset != 0 ? " offset " + std::to_string(offset) : "");
  Tensor x = random_tensor(s, seed, offset - 3.0f, offset + 3.0f);
  Tensor w = random_tensor(cols_of(s), seed + 1), b = random_tensor(cols_of(s), seed + 2);
  Guarded out(s, 1.0f), mean(rows_of(s), 2.0f), rstd(rows_of(s), 3.0f);
  Guarded rout(s), rmean(rows_of(s)), rrstd(rows_of(s));
  cpu_kernels().layernorm(x, w, b, kEps, out.get(), mean.get(), rstd.get());
  reference().layernorm(x, w, b, kEps, rout.get(), rmean.get(), rrstd.get());
  expect_close(out.get(), rout.get(), kLnOutBound, what + " out");
  expect_close(mean.get(), rmean.get(), kLnMeanBound, what + " mean");
  expect_close(rstd.get(), rrstd.get(), kLnRstdBound, what + " rstd");
  EXPECT_TRUE(out.guards_intact() && mean.guards_intact() && rstd.guards_intact()) << what;
}

TEST(LayerNorm, MatchesReference) {
  for (const Shape& s : kShapes) check_layernorm_forward(s, 0.0f, 1);
}

TEST(LayerNorm, MatchesReferenceOnLargeOffsets) {
  // Rows sitting on an offset of 1000 with a spread of ±3: a naive f32 mean loses ~1e-5
  // of xhat here; the same bounds as above must hold.
  for (const Shape& s : {Shape{7}, Shape{64, 768}, Shape{1031, 1031}}) check_layernorm_forward(s, 1000.0f, 2);
}

TEST(LayerNorm, NormalisesRows) {
  // Independent of the reference: with w = 1, b = 0 each row of out has mean 0 and
  // variance var/(var+eps) ≈ 1.
  const Shape s{5, 96};
  Tensor x = random_tensor(s, 3, -2.0f, 4.0f), w = Tensor::zeros({96}), b = Tensor::zeros({96});
  w.fill(1.0f);
  Tensor out = Tensor::zeros(s), mean = Tensor::zeros({5}), rstd = Tensor::zeros({5});
  cpu_kernels().layernorm(x, w, b, kEps, out, mean, rstd);
  for (int n = 0; n < 5; ++n) {
    double m = 0, v = 0;
    for (int c = 0; c < 96; ++c) m += out.data<float>()[n * 96 + c];
    m /= 96;
    for (int c = 0; c < 96; ++c) v += std::pow(out.data<float>()[n * 96 + c] - m, 2);
    v /= 96;
    EXPECT_NEAR(m, 0.0, 1e-6) << n;
    EXPECT_NEAR(v, 1.0, 1e-3) << n;  // eps/var ≈ 3e-5 below 1
  }
  // A constant row has variance 0: out = b, rstd = 1/sqrt(eps).
  Tensor xc = Tensor::zeros({1, 8}), wc = random_tensor({8}, 4), bc = random_tensor({8}, 5);
  xc.fill(42.0f);
  Tensor oc = Tensor::zeros({1, 8}), mc = Tensor::zeros({1}), rc = Tensor::zeros({1});
  cpu_kernels().layernorm(xc, wc, bc, kEps, oc, mc, rc);
  EXPECT_EQ(mc.data<float>()[0], 42.0f);
  EXPECT_NEAR(rc.data<float>()[0], 1.0 / std::sqrt(1e-5), 1e-3);
  for (int c = 0; c < 8; ++c) EXPECT_EQ(oc.data<float>()[c], bc.data<float>()[c]) << c;
}

TEST(LayerNorm, BackwardAccumulatesAndMatchesReference) {
  for (const Shape& s : kShapes) {
    for (bool with_params : {true, false}) {
      const std::string what = "layernorm_backward " + s.str() + (with_params ? "" : " dx only");
      Tensor x = random_tensor(s, 6, -3.0f, 3.0f), w = random_tensor(cols_of(s), 7), b = random_tensor(cols_of(s), 8);
      Tensor mean = Tensor::zeros(rows_of(s)), rstd = Tensor::zeros(rows_of(s)), out = Tensor::zeros(s);
      reference().layernorm(x, w, b, kEps, out, mean, rstd);
      Tensor dout = random_tensor(s, 9), dx0 = random_tensor(s, 10);
      Tensor dw0 = random_tensor(cols_of(s), 11), db0 = random_tensor(cols_of(s), 12);
      Guarded dx(dx0), dw(dw0), db(db0), rdx(dx0), rdw(dw0), rdb(db0);
      Tensor none;
      cpu_kernels().layernorm_backward(dout, x, w, mean, rstd, dx.get(), with_params ? dw.get() : none,
                                       with_params ? db.get() : none);
      reference().layernorm_backward(dout, x, w, mean, rstd, rdx.get(), with_params ? rdw.get() : none,
                                     with_params ? rdb.get() : none);
      expect_close(dx.get(), rdx.get(), kLnDxBound, what + " dx");
      expect_close(dw.get(), rdw.get(), kLnDweightBound, what + " dweight");
      expect_close(db.get(), rdb.get(), kLnDbiasBound, what + " dbias");
      if (!with_params) {
        EXPECT_TRUE(bitwise_equal(dw.get(), dw0) && bitwise_equal(db.get(), db0)) << what << ": touched";
      }
      EXPECT_TRUE(dx.guards_intact() && dw.guards_intact() && db.guards_intact()) << what;
    }
  }
}

TEST(LayerNorm, BackwardIsDeterministicAcrossThreadCounts) {
  const Shape s{4099, 33};
  Tensor x = random_tensor(s, 13), w = random_tensor({33}, 14), b = random_tensor({33}, 15);
  Tensor mean = Tensor::zeros({4099}), rstd = Tensor::zeros({4099}), out = Tensor::zeros(s);
  cpu_kernels().layernorm(x, w, b, kEps, out, mean, rstd);
  Tensor dout = random_tensor(s, 16);
  auto run = [&] {
    Tensor dx = Tensor::zeros(s), dw = Tensor::zeros({33}), db = Tensor::zeros({33});
    cpu_kernels().layernorm_backward(dout, x, w, mean, rstd, dx, dw, db);
    return std::array<Tensor, 3>{dx, dw, db};
  };
  const auto a = run(), c = run();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(bitwise_equal(a[i], c[i])) << "run to run, output " << i;
  tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
  const auto d = run();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(bitwise_equal(a[i], d[i])) << "one thread vs many, output " << i;
}

TEST(LayerNorm, GradientMatchesFiniteDifferences) {
  const std::int64_t N = 3, C = 5;
  auto x = random_doubles(std::size_t(N * C), 17, -2.0, 2.0);
  auto w = random_doubles(std::size_t(C), 18), b = random_doubles(std::size_t(C), 19);
  auto g = random_doubles(std::size_t(N * C), 20);
  std::vector<double> y(g.size()), mean(static_cast<std::size_t>(N)), rstd(static_cast<std::size_t>(N));
  const double eps = 1e-5;
  auto loss = [&] {
    ref::layernorm(x.data(), w.data(), b.data(), eps, y.data(), mean.data(), rstd.data(), N, C);
    return weighted_sum(y, g);
  };
  loss();  // mean and rstd at the point of linearisation
  std::vector<double> dx(x.size(), 0.0), dw(w.size(), 0.0), db(b.size(), 0.0);
  ref::layernorm_backward(g.data(), x.data(), w.data(), mean.data(), rstd.data(), dx.data(), dw.data(), db.data(), N,
                          C);
  expect_gradient(x, loss, dx, "layernorm dx");
  expect_gradient(w, loss, dw, "layernorm dweight");
  expect_gradient(b, loss, db, "layernorm dbias");
}

TEST(LayerNorm, RejectsBadArguments) {
  Tensor x = Tensor::zeros({3, 4}), w = Tensor::zeros({4}), b = Tensor::zeros({4}), out = Tensor::zeros({3, 4});
  Tensor mean = Tensor::zeros({3}), rstd = Tensor::zeros({3}), none;
  EXPECT_EQ(error_of([&] { cpu_kernels().layernorm(x, w, b, 0.0f, out, mean, rstd); }),
            "layernorm: eps = 0 must be positive and finite");
  for (float eps : {-1e-5f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    const std::string msg = error_of([&] { cpu_kernels().layernorm(x, w, b, eps, out, mean, rstd); });
    EXPECT_EQ(msg.rfind("layernorm: eps = ", 0), 0u) << msg;
  }
  Tensor w5 = Tensor::zeros({5});
  EXPECT_EQ(error_of([&] { cpu_kernels().layernorm(x, w5, b, kEps, out, mean, rstd); }),
            "layernorm: weight has shape (5), expected (4)");
  struct Bad {
    std::string want;
    std::function<void()> call;
  };
  Tensor m4 = Tensor::zeros({4}), r31 = Tensor::zeros({3, 1}), o43 = Tensor::zeros({4, 3});
  const Bad bad[] = {
      {"layernorm: bias has shape (5), expected (4)",
       [&] { cpu_kernels().layernorm(x, w, w5, kEps, out, mean, rstd); }},
      {"layernorm: bias is undefined", [&] { cpu_kernels().layernorm(x, w, none, kEps, out, mean, rstd); }},
      {"layernorm: out has shape (4, 3), expected (3, 4)",
       [&] { cpu_kernels().layernorm(x, w, b, kEps, o43, mean, rstd); }},
      {"layernorm: mean has shape (4), expected (3)", [&] { cpu_kernels().layernorm(x, w, b, kEps, out, m4, rstd); }},
      {"layernorm: rstd has shape (3, 1), expected (3)",
       [&] { cpu_kernels().layernorm(x, w, b, kEps, out, mean, r31); }},
      {"layernorm_backward: x has shape (4, 3), expected (3, 4)",
       [&] { cpu_kernels().layernorm_backward(x, o43, w, mean, rstd, out, none, none); }},
      {"layernorm_backward: dx is undefined",
       [&] { cpu_kernels().layernorm_backward(x, x, w, mean, rstd, none, none, none); }},
      {"layernorm_backward: dweight has shape (5), expected (4)",
       [&] { cpu_kernels().layernorm_backward(x, x, w, mean, rstd, out, w5, none); }},
      {"layernorm_backward: dbias has shape (5), expected (4)",
       [&] { cpu_kernels().layernorm_backward(x, x, w, mean, rstd, out, none, w5); }},
      {"layernorm_backward: rstd has shape (4), expected (3)",
       [&] { cpu_kernels().layernorm_backward(x, x, w, mean, m4, out, none, none); }},
  };
  for (const Bad& e : bad) {
    const std::string msg = error_of(e.call);
    EXPECT_EQ(msg.rfind(e.want, 0), 0u) << "got: " << msg << "\nwant: " << e.want;
  }
}

// ---------------------------------------------------------------------------------------
// Softmax. Inputs in [-10, 10].

// exp of an argument x − max with |x − max| <= 20 and an absolute error of one ulp of 20
// (1.9e-6) has that relative error; the sum and the scale add a few ulp: rtol 4e-6.
constexpr Bound kSoftmaxBound{1e-12, 0.0, 4e-6};
// dx0 + y·(dy − Σ dy·y): |dx0|, |dy| <= 1 and y <= 1, so a few ulp of 1 absolute.
constexpr Bound kSoftmaxBackwardBound{1e-12, 2.5e-7, 4e-6};

TEST(Softmax, MatchesReference) {
  for (const Shape& s : kShapes) {
    Tensor x = random_tensor(s, 31, -10.0f, 10.0f);
    Guarded got(s, 4.0f), want(s);
    cpu_kernels().softmax(x, got.get());
    reference().softmax(x, want.get());
    expect_close(got.get(), want.get(), kSoftmaxBound, "softmax " + s.str());
    EXPECT_TRUE(got.guards_intact()) << s.str();
  }
}

TEST(Softmax, IsStableAndRowsSumToOne) {
  // Logits near 1e4 overflow exp() unless the row max is subtracted; −inf entries (masked
  // positions) get exactly 0.
  const Shape s{4, 37};
  Tensor x = random_tensor(s, 32, 9990.0f, 10010.0f);
  const float inf = std::numeric_limits<float>::infinity();
  x.data<float>()[3] = -inf;
  x.data<float>()[40] = -inf;
  x.data<float>()[41] = -inf;
  Tensor got = Tensor::zeros(s), want = Tensor::zeros(s);
  cpu_kernels().softmax(x, got);
  reference().softmax(x, want);
  // Here |x − max| <= 20 again but the inputs carry ulp(1e4) ≈ 1e-3 of absolute error
  // that both paths see alike; the argument x − max is exact (Sterbenz), so the bound holds.
  expect_close(got, want, kSoftmaxBound, "softmax large logits");
  EXPECT_EQ(got.data<float>()[3], 0.0f);
  EXPECT_EQ(got.data<float>()[40], 0.0f);
  for (int r = 0; r < 4; ++r) {
    double sum = 0;
    for (int c = 0; c < 37; ++c) sum += got.data<float>()[r * 37 + c];
    EXPECT_NEAR(sum, 1.0, 37 * 0x1p-23) << r;
  }
}

TEST(Softmax, BackwardAccumulatesAndMatchesReference) {
  for (const Shape& s : kShapes) {
    Tensor x = random_tensor(s, 33, -10.0f, 10.0f), y = Tensor::zeros(s);
    reference().softmax(x, y);
    Tensor dy = random_tensor(s, 34), dx0 = random_tensor(s, 35);
    Guarded got(dx0), want(dx0);
    cpu_kernels().softmax_backward(y, dy, got.get());
    reference().softmax_backward(y, dy, want.get());
    expect_close(got.get(), want.get(), kSoftmaxBackwardBound, "softmax_backward " + s.str());
    EXPECT_TRUE(got.guards_intact()) << s.str();
  }
}

TEST(Softmax, GradientMatchesFiniteDifferences) {
  const std::int64_t N = 3, C = 7;
  auto x = random_doubles(std::size_t(N * C), 36, -3.0, 3.0), w = random_doubles(std::size_t(N * C), 37);
  std::vector<double> y(x.size());
  auto loss = [&] {
    ref::softmax(x.data(), y.data(), N, C);
    return weighted_sum(y, w);
  };
  loss();
  std::vector<double> dx(x.size(), 0.0);
  ref::softmax_backward(y.data(), w.data(), dx.data(), N, C);
  expect_gradient(x, loss, dx, "softmax dx");
}

TEST(Softmax, RejectsBadArguments) {
  Tensor x = Tensor::zeros({3, 4}), out = Tensor::zeros({4, 3}), ok = Tensor::zeros({3, 4}), none;
  EXPECT_EQ(error_of([&] { cpu_kernels().softmax(x, out); }), "softmax: out has shape (4, 3), expected (3, 4)");
  Tensor scalar = Tensor::zeros(Shape{}), one = Tensor::zeros(Shape{});
  EXPECT_EQ(error_of([&] { cpu_kernels().softmax(scalar, one); }), "softmax: x () has rank 0, expected 1 to 4");
  EXPECT_NE(error_of([&] { cpu_kernels().softmax_backward(x, out, ok); }).find("softmax_backward: dy has shape (4, 3)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { cpu_kernels().softmax_backward(x, ok, none); }).find("softmax_backward: dx is undefined"),
            std::string::npos);
  Tensor empty = Tensor::zeros({0, 4});
  EXPECT_NE(error_of([&] { cpu_kernels().softmax(empty, empty); }).find("softmax: x (0, 4) is empty"),
            std::string::npos);
}

}  // namespace
}  // namespace tandem::test
