// Tests for tandem::cpu::sgemm (host/backends/cpu/gemm.cpp).
//
// Every case is checked against a naive triple loop accumulating in double.
//
// Error bound. For one element c = alpha * sum_k a_k b_k + beta * c0 computed
// in fp32 with any summation order (blocked, FMA or not), the classic
// forward-error bound (Higham, "Accuracy and Stability of Numerical
// Algorithms", ch. 3) is
//     |c - ref| <= gamma_{K+2} * (|alpha| * sum_k |a_k b_k| + |beta| * |c0|),
//     gamma_n = n*u / (1 - n*u), u = 2^-24 (fp32 unit roundoff),
// where the +2 covers the alpha scaling and the beta*c0 addition. With
// sum_k |a_k b_k| <= K * max|a| * max|b| this is the usual
// "atol ~ K * eps * K * max|a| * max|b|" bound; we use the per-element sum
// (computed in double alongside the reference), which is both rigorous and much
// tighter, so a dropped or duplicated k-term is still detected. In practice
// rounding errors of random-signed sums grow like sqrt(K)*u, far below this.
// An additional rtol = 4u * |ref| absorbs the final rounding of the stored fp32
// result and of the double reference's conversion.

#include <gtest/gtest.h>
#include <oneapi/tbb/global_control.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/gemm.hpp"

namespace {

using i64 = std::int64_t;

constexpr double kU = 0x1p-24;  // fp32 unit roundoff

struct Shape {
  i64 M, N, K;
};

std::string shape_name(const Shape& s) {
  return std::to_string(s.M) + "x" + std::to_string(s.N) + "x" + std::to_string(s.K);
}

void PrintTo(const Shape& s, std::ostream* os) { *os << shape_name(s); }

struct ShapeParamName {
  std::string operator()(const ::testing::TestParamInfo<Shape>& param_info) const {
    return shape_name(param_info.param);
  }
};

// Logical operands opA (M x K) and opB (K x N), plus the double-precision
// reference products and per-element sum |a_k b_k|.
struct Problem {
  Shape s;
  std::vector<float> opa, opb;   // row-major logical op(A), op(B)
  std::vector<double> dot, mag;  // sum a*b, sum |a*b| (M x N)

  explicit Problem(Shape shape, std::uint32_t seed = 1234) : s(shape) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    opa.resize(static_cast<std::size_t>(s.M * s.K));
    opb.resize(static_cast<std::size_t>(s.K * s.N));
    for (float& x : opa) x = dist(rng);
    for (float& x : opb) x = dist(rng);
    dot.assign(static_cast<std::size_t>(s.M * s.N), 0.0);
    mag.assign(static_cast<std::size_t>(s.M * s.N), 0.0);
    for (i64 i = 0; i < s.M; ++i) {
      double* drow = dot.data() + i * s.N;
      double* mrow = mag.data() + i * s.N;
      for (i64 k = 0; k < s.K; ++k) {
        const double a = opa[static_cast<std::size_t>(i * s.K + k)];
        const float* brow = opb.data() + k * s.N;
        for (i64 j = 0; j < s.N; ++j) {
          const double p = a * static_cast<double>(brow[j]);
          drow[j] += p;
          mrow[j] += std::fabs(p);
        }
      }
    }
  }

  // Stores op(A) as A (M x K) or, if trans, as (K x M); row stride ld.
  std::vector<float> store_a(bool trans, i64 ld) const { return store(opa, s.M, s.K, trans, ld); }
  std::vector<float> store_b(bool trans, i64 ld) const { return store(opb, s.K, s.N, trans, ld); }

 private:
  static std::vector<float> store(const std::vector<float>& logical, i64 rows, i64 cols, bool trans,
                                  i64 ld) {
    const i64 srows = trans ? cols : rows;
    // Padding is filled with NaN so reading outside the matrix shows up.
    std::vector<float> out(static_cast<std::size_t>(srows * ld),
                           std::numeric_limits<float>::quiet_NaN());
    for (i64 r = 0; r < rows; ++r) {
      for (i64 c = 0; c < cols; ++c) {
        const float v = logical[static_cast<std::size_t>(r * cols + c)];
        if (trans) {
          out[static_cast<std::size_t>(c * ld + r)] = v;
        } else {
          out[static_cast<std::size_t>(r * ld + c)] = v;
        }
      }
    }
    return out;
  }
};

struct Layout {
  bool ta, tb;
  i64 pad_a, pad_b, pad_c;  // extra elements per row beyond the width
};

constexpr float kSentinel = -12345.0f;

// Runs sgemm on `p` with the given layout/alpha/beta and checks the result and
// that C's padding (ldc > N) was left untouched.
void check(const Problem& p, const Layout& l, float alpha, float beta, bool nan_c) {
  const Shape& s = p.s;
  const i64 lda = (l.ta ? s.M : s.K) + l.pad_a;
  const i64 ldb = (l.tb ? s.K : s.N) + l.pad_b;
  const i64 ldc = s.N + l.pad_c;
  const std::vector<float> A = p.store_a(l.ta, lda);
  const std::vector<float> B = p.store_b(l.tb, ldb);

  std::vector<float> C(static_cast<std::size_t>(s.M * ldc), kSentinel);
  std::vector<float> c0(static_cast<std::size_t>(s.M * s.N), 0.0f);
  std::mt19937 rng(99);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (i64 i = 0; i < s.M; ++i) {
    for (i64 j = 0; j < s.N; ++j) {
      const float v = nan_c ? std::numeric_limits<float>::quiet_NaN() : dist(rng);
      C[static_cast<std::size_t>(i * ldc + j)] = v;
      c0[static_cast<std::size_t>(i * s.N + j)] = v;
    }
  }

  tandem::cpu::sgemm(l.ta, l.tb, s.M, s.N, s.K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(),
                     ldc);

  const double gamma =
      static_cast<double>(s.K + 2) * kU / (1.0 - static_cast<double>(s.K + 2) * kU);
  i64 failures = 0;
  for (i64 i = 0; i < s.M && failures < 10; ++i) {
    for (i64 j = 0; j < s.N && failures < 10; ++j) {
      const std::size_t e = static_cast<std::size_t>(i * s.N + j);
      const double cin = beta == 0.0f ? 0.0 : static_cast<double>(c0[e]);
      const double ref = static_cast<double>(alpha) * p.dot[e] + static_cast<double>(beta) * cin;
      const double atol = gamma * (std::fabs(static_cast<double>(alpha)) * p.mag[e] +
                                   std::fabs(static_cast<double>(beta) * cin));
      const double rtol = 4.0 * kU;
      const double got = C[static_cast<std::size_t>(i * ldc + j)];
      const bool ok =
          std::isfinite(got) && std::fabs(got - ref) <= atol + rtol * std::fabs(ref) + 1e-30;
      if (!ok) {
        ++failures;
        ADD_FAILURE() << shape_name(s) << " ta=" << l.ta << " tb=" << l.tb << " alpha=" << alpha
                      << " beta=" << beta << " at (" << i << "," << j << "): got " << got << " ref "
                      << ref << " tol " << atol + rtol * std::fabs(ref);
      }
    }
    for (i64 j = s.N; j < ldc; ++j) {
      if (C[static_cast<std::size_t>(i * ldc + j)] != kSentinel) {
        ++failures;
        ADD_FAILURE() << shape_name(s) << ": C padding overwritten at (" << i << "," << j << ")";
        break;
      }
    }
  }
}

class GemmShapes : public ::testing::TestWithParam<Shape> {};

TEST_P(GemmShapes, AllTransposesAgainstNaive) {
  const Problem p(GetParam());
  for (int t = 0; t < 4; ++t) {
    const bool ta = (t & 1) != 0;
    const bool tb = (t & 2) != 0;
    SCOPED_TRACE("ta=" + std::to_string(ta) + " tb=" + std::to_string(tb));
    check(p, Layout{ta, tb, 0, 0, 0}, 1.0f, 0.0f, /*nan_c=*/true);
    check(p, Layout{ta, tb, 3, 5, 7}, 1.0f, 0.0f, /*nan_c=*/true);
  }
}

TEST_P(GemmShapes, AlphaBetaVariants) {
  const Problem p(GetParam());
  struct AB {
    float alpha, beta;
    bool nan_c;
  };
  const AB cases[] = {
      {0.5f, 0.0f, true},     // beta == 0 must not read (NaN) C
      {1.0f, 1.0f, false},    // accumulate
      {-1.5f, 0.25f, false},  // general
      {2.0f, -1.0f, false},
  };
  for (int t = 0; t < 4; ++t) {
    const bool ta = (t & 1) != 0;
    const bool tb = (t & 2) != 0;
    for (const AB& ab : cases) {
      SCOPED_TRACE("ta=" + std::to_string(ta) + " tb=" + std::to_string(tb));
      check(p, Layout{ta, tb, 1, 16, 17}, ab.alpha, ab.beta, ab.nan_c);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmShapes,
                         ::testing::Values(Shape{1, 1, 1}, Shape{1, 37, 1}, Shape{1, 1, 53},
                                           Shape{5, 1, 3}, Shape{3, 5, 7}, Shape{13, 17, 19},
                                           Shape{14, 32, 8}, Shape{15, 33, 17}, Shape{29, 65, 300},
                                           Shape{64, 64, 64}, Shape{1, 768, 768}, Shape{97, 2, 300},
                                           Shape{2, 45, 700}, Shape{1500, 1, 700},
                                           Shape{127, 129, 255}, Shape{300, 200, 1000},
                                           Shape{64, 2304, 96}, Shape{1030, 1030, 520}),
                         ShapeParamName());

// One thread means one macro-tile covering all of C, so this exercises
// several MC (rows > 1152) and NC (cols > 384) blocks within a tile, and
// several KC blocks (K > 384).
TEST(Gemm, SingleThreadManyBlocks) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, 1);
  const Problem p(Shape{1250, 420, 400});
  for (int t = 0; t < 4; ++t) {
    const bool ta = (t & 1) != 0;
    const bool tb = (t & 2) != 0;
    SCOPED_TRACE("ta=" + std::to_string(ta) + " tb=" + std::to_string(tb));
    check(p, Layout{ta, tb, 2, 3, 4}, 1.0f, 0.0f, /*nan_c=*/true);
    check(p, Layout{ta, tb, 0, 0, 0}, -0.5f, 2.0f, /*nan_c=*/false);
  }
}

TEST(Gemm, ZeroKScalesC) {
  // K == 0: C = beta * C; beta == 0 overwrites NaN.
  std::vector<float> C = {1.0f, 2.0f, std::numeric_limits<float>::quiet_NaN(), 4.0f};
  const float dummy = 0.0f;
  tandem::cpu::sgemm(false, false, 2, 2, 0, 1.0f, &dummy, 1, &dummy, 2, 0.5f, C.data(), 2);
  EXPECT_EQ(C[0], 0.5f);
  EXPECT_EQ(C[1], 1.0f);
  EXPECT_TRUE(std::isnan(C[2]));
  EXPECT_EQ(C[3], 2.0f);
  tandem::cpu::sgemm(false, false, 2, 2, 0, 1.0f, &dummy, 1, &dummy, 2, 0.0f, C.data(), 2);
  for (float v : C) EXPECT_EQ(v, 0.0f);
}

TEST(Gemm, AlphaZeroWithBetaZeroClearsNaN) {
  const Problem p(Shape{7, 9, 11});
  std::vector<float> C(7 * 9, std::numeric_limits<float>::quiet_NaN());
  tandem::cpu::sgemm(false, false, 7, 9, 11, 0.0f, p.opa.data(), 11, p.opb.data(), 9, 0.0f,
                     C.data(), 9);
  for (float v : C) EXPECT_EQ(v, 0.0f);
}

// Bitwise comparison of two result buffers.
bool bitwise_equal(const std::vector<float>& x, const std::vector<float>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

std::vector<float> run_with_threads(const Problem& p, bool ta, bool tb, int threads) {
  const Shape& s = p.s;
  const std::vector<float> A = p.store_a(ta, ta ? s.M : s.K);
  const std::vector<float> B = p.store_b(tb, tb ? s.K : s.N);
  std::vector<float> C(static_cast<std::size_t>(s.M * s.N), 0.25f);
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism,
                            static_cast<std::size_t>(threads));
  tandem::cpu::sgemm(ta, tb, s.M, s.N, s.K, 0.75f, A.data(), ta ? s.M : s.K, B.data(),
                     tb ? s.K : s.N, 0.5f, C.data(), s.N);
  return C;
}

class GemmDeterminism : public ::testing::TestWithParam<Shape> {};

TEST_P(GemmDeterminism, BitwiseAcrossRunsAndThreadCounts) {
  const Problem p(GetParam());
  for (int t = 0; t < 4; ++t) {
    const bool ta = (t & 1) != 0;
    const bool tb = (t & 2) != 0;
    SCOPED_TRACE("ta=" + std::to_string(ta) + " tb=" + std::to_string(tb));
    const std::vector<float> two_a = run_with_threads(p, ta, tb, 2);
    const std::vector<float> two_b = run_with_threads(p, ta, tb, 2);
    const std::vector<float> one = run_with_threads(p, ta, tb, 1);
    const std::vector<float> three = run_with_threads(p, ta, tb, 3);
    EXPECT_TRUE(bitwise_equal(two_a, two_b)) << "not reproducible across runs";
    EXPECT_TRUE(bitwise_equal(one, two_a)) << "differs between 1 and 2 threads";
    EXPECT_TRUE(bitwise_equal(three, two_a)) << "differs between 3 and 2 threads";
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmDeterminism,
                         ::testing::Values(Shape{300, 200, 1000}, Shape{64, 2304, 768},
                                           Shape{1500, 1, 700}, Shape{517, 389, 611},
                                           Shape{1030, 1030, 520}),
                         ShapeParamName());

}  // namespace
