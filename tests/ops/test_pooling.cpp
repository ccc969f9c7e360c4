// Sequence pooling: masked mean over tokens and first-token ([CLS]) pooling.
#include <tbb/global_control.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "backends/cpu/cpu_kernels.hpp"
#include "ops/pooling.hpp"
#include "op_test_util.hpp"

namespace tandem::test {
namespace {

// The message of the tandem::Error that f throws, or "no error".
struct Case {
  std::int64_t B, T, C;
};
// Size 1, primes, and one whose x exceeds 4 MiB (BERT-base-like T and C).
const Case kCases[] = {{1, 1, 1}, {2, 3, 5}, {3, 7, 11}, {5, 13, 3}, {4, 512, 768}};

// A 0/1 padding mask: row b keeps a prefix of T − b·T/(B+1) tokens with ~10% random holes,
// except row 1 which keeps none (the empty-row case, when B >= 2).
Tensor padding_mask(std::int64_t B, std::int64_t T, std::uint64_t seed) {
  Tensor r = random_tensor({B, T}, seed, 0.0f, 1.0f);
  Tensor m = Tensor::zeros({B, T});
  for (std::int64_t b = 0; b < B; ++b) {
    const std::int64_t keep = (b == 1) ? 0 : T - (b * T) / (B + 1);
    for (std::int64_t t = 0; t < keep; ++t) m.data<float>()[b * T + t] = r.data<float>()[b * T + t] < 0.9f ? 1.0f : 0.0f;
  }
  return m;
}

// Forward, x in [-1, 1] and 0/1 weights: the CPU sums the (at most T) kept tokens in f32
// in order, each partial at most T in size, then scales by f32 1/S; relative to the mean
// the recursive-summation bound is T·2⁻²⁴·(Σ|x|/S) <= T·2⁻²⁴ (atol), and the scale adds
// two roundings (rtol 2⁻²²).
Bound mean_pool_bound(std::int64_t T) { return {1e-10, double(T) * 0x1p-24, 0x1p-22}; }
// Backward: dx0 + dout·(m·f32(1/S)): three roundings of the added term and one of the
// sum, with |dx0| <= 1.
constexpr Bound kMeanPoolBackwardBound{1e-13, 6e-8, 0x1p-21};
// first_token_pool is a copy; its backward is one correctly rounded addition in both paths.
constexpr Bound kExact{0.0, 0.0, 0.0};

std::string name(const char* op, const Case& k, bool masked) {
  return std::string(op) + " B=" + std::to_string(k.B) + " T=" + std::to_string(k.T) + " C=" + std::to_string(k.C) +
         (masked ? " masked" : "");
}

TEST(MeanPool, MatchesReference) {
  for (const Case& k : kCases)
    for (bool masked : {false, true}) {
      Tensor x = random_tensor({k.B, k.T, k.C}, 1);
      Tensor mask = masked ? padding_mask(k.B, k.T, 2) : Tensor();
      Guarded got({k.B, k.C}, 9.0f), want({k.B, k.C});
      cpu_kernels().mean_pool(x, mask, got.get());
      reference().mean_pool(x, mask, want.get());
      expect_close(got.get(), want.get(), mean_pool_bound(k.T), name("mean_pool", k, masked));
      EXPECT_TRUE(got.guards_intact()) << name("mean_pool", k, masked);
    }
}

TEST(MeanPool, BackwardAccumulatesAndMatchesReference) {
  for (const Case& k : kCases)
    for (bool masked : {false, true}) {
      Tensor dout = random_tensor({k.B, k.C}, 3), dx0 = random_tensor({k.B, k.T, k.C}, 4);
      Tensor mask = masked ? padding_mask(k.B, k.T, 5) : Tensor();
      Guarded got(dx0), want(dx0);
      cpu_kernels().mean_pool_backward(dout, mask, got.get());
      reference().mean_pool_backward(dout, mask, want.get());
      expect_close(got.get(), want.get(), kMeanPoolBackwardBound, name("mean_pool_backward", k, masked));
      EXPECT_TRUE(got.guards_intact()) << name("mean_pool_backward", k, masked);
    }
}

TEST(MeanPool, KnownValues) {
  // x[0] = [[1, 2], [3, 4], [5, 6]]; x[1] = [[-1, 0], [7, 7], [1, 2]].
  Tensor x = Tensor::from(std::vector<float>{1, 2, 3, 4, 5, 6, -1, 0, 7, 7, 1, 2}, {2, 3, 2});
  Tensor out = Tensor::zeros({2, 2});
  cpu_kernels().mean_pool(x, Tensor(), out);
  const std::vector<float> plain{3, 4, 7.0f / 3, 3};
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(out.data<float>()[i], plain[std::size_t(i)]) << i;
  // Mask [1, 1, 0] and [0, 0, 0]: mean of the first two tokens, and zeros.
  Tensor mask = Tensor::from(std::vector<float>{1, 1, 0, 0, 0, 0}, {2, 3});
  out.fill(5.0f);
  cpu_kernels().mean_pool(x, mask, out);
  const std::vector<float> masked{2, 3, 0, 0};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out.data<float>()[i], masked[std::size_t(i)]) << i;
  // Weights [0.5, 0, 1.5]: (0.5·x0 + 1.5·x2) / 2.
  Tensor weights = Tensor::from(std::vector<float>{0.5f, 0, 1.5f, 0.5f, 0, 1.5f}, {2, 3});
  cpu_kernels().mean_pool(x, weights, out);
  const std::vector<float> weighted{4, 5, 0.5f, 1.5f};
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(out.data<float>()[i], weighted[std::size_t(i)]) << i;
}

TEST(MeanPool, EmptyRowGetsNoGradient) {
  Tensor mask = Tensor::from(std::vector<float>{1, 0, 1, 0, 0, 0}, {2, 3});
  Tensor dout = random_tensor({2, 4}, 6), dx0 = random_tensor({2, 3, 4}, 7), dx = dx0.clone();
  cpu_kernels().mean_pool_backward(dout, mask, dx);
  for (int t = 0; t < 3; ++t)
    for (int c = 0; c < 4; ++c) {
      const int i = (3 + t) * 4 + c;  // batch entry 1: untouched
      EXPECT_EQ(dx.data<float>()[i], dx0.data<float>()[i]) << t << "," << c;
      const int j = t * 4 + c;  // batch entry 0: half of dout to tokens 0 and 2, none to token 1
      const float add = (t == 1) ? 0.0f : 0.5f * dout.data<float>()[c];
      EXPECT_FLOAT_EQ(dx.data<float>()[j], dx0.data<float>()[j] + add) << t << "," << c;
    }
}

TEST(MeanPool, IsDeterministicAcrossThreadCounts) {
  Tensor x = random_tensor({4, 512, 768}, 8), mask = padding_mask(4, 512, 9);
  Tensor a = Tensor::zeros({4, 768}), b = Tensor::zeros({4, 768}), c = Tensor::zeros({4, 768});
  cpu_kernels().mean_pool(x, mask, a);
  cpu_kernels().mean_pool(x, mask, b);
  tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
  cpu_kernels().mean_pool(x, mask, c);
  EXPECT_TRUE(bitwise_equal(a, b) && bitwise_equal(a, c));
}

TEST(MeanPool, GradientMatchesFiniteDifferences) {
  const std::int64_t B = 3, T = 4, C = 2;
  // Row 0 unmasked weights, row 1 fractional weights, row 2 no token at all.
  const std::vector<double> mask{1, 1, 1, 1, 0.5, 0, 2, 1, 0, 0, 0, 0};
  for (bool masked : {false, true}) {
    auto x = random_doubles(std::size_t(B * T * C), 10), w = random_doubles(std::size_t(B * C), 11);
    std::vector<double> y(w.size());
    const double* m = masked ? mask.data() : nullptr;
    auto loss = [&] {
      ref::mean_pool(x.data(), m, y.data(), B, T, C);
      return weighted_sum(y, w);
    };
    std::vector<double> dx(x.size(), 0.0);
    ref::mean_pool_backward(w.data(), m, dx.data(), B, T, C);
    expect_gradient(x, loss, dx, masked ? "mean_pool dx masked" : "mean_pool dx");
  }
}

TEST(MeanPool, RejectsBadArguments) {
  Tensor x = Tensor::zeros({2, 3, 4}), out = Tensor::zeros({2, 4}), none;
  Tensor mask = Tensor::from(std::vector<float>{1, 1, 1, -1, 1, 1}, {2, 3});
  EXPECT_EQ(error_of([&] { cpu_kernels().mean_pool(x, mask, out); }),
            "mean_pool: mask (2, 3) holds -1 at [1, 0]; weights must be finite and >= 0");
  Tensor m32 = Tensor::zeros({3, 2});
  EXPECT_EQ(error_of([&] { cpu_kernels().mean_pool(x, m32, out); }), "mean_pool: mask has shape (3, 2), expected (2, 3)");
  struct Bad {
    std::string want;
    std::function<void()> call;
  };
  Tensor nan_mask = Tensor::zeros({2, 3});
  nan_mask.data<float>()[2] = std::numeric_limits<float>::quiet_NaN();
  Tensor x2 = Tensor::zeros({6, 4}), o3 = Tensor::zeros({2, 3}), dx5 = Tensor::zeros({2, 3, 5});
  Tensor imask = Tensor::zeros({2, 3}, DType::I32);
  const Bad bad[] = {
      {"mean_pool: mask (2, 3) holds nan at [0, 2]", [&] { cpu_kernels().mean_pool(x, nan_mask, out); }},
      {"mean_pool: mask (2, 3) has element type i32, expected f32", [&] { cpu_kernels().mean_pool(x, imask, out); }},
      {"mean_pool: x (6, 4) has rank 2, expected 3", [&] { cpu_kernels().mean_pool(x2, none, out); }},
      {"mean_pool: out has shape (2, 3), expected (2, 4)", [&] { cpu_kernels().mean_pool(x, none, o3); }},
      {"mean_pool_backward: dx has shape (2, 3, 5), expected (2, 3, 4)",
       [&] { cpu_kernels().mean_pool_backward(out, none, dx5); }},
      {"mean_pool_backward: mask (2, 3) holds -1 at [1, 0]", [&] { cpu_kernels().mean_pool_backward(out, mask, x); }},
      {"mean_pool_backward: dout (2, 3, 4) has rank 3, expected 2",
       [&] { cpu_kernels().mean_pool_backward(x, none, x); }},
  };
  for (const Bad& e : bad) {
    const std::string msg = error_of(e.call);
    EXPECT_EQ(msg.rfind(e.want, 0), 0u) << "got: " << msg << "\nwant: " << e.want;
  }
}

TEST(FirstTokenPool, MatchesReference) {
  for (const Case& k : kCases) {
    Tensor x = random_tensor({k.B, k.T, k.C}, 12);
    Guarded got({k.B, k.C}, 9.0f), want({k.B, k.C});
    cpu_kernels().first_token_pool(x, got.get());
    reference().first_token_pool(x, want.get());
    expect_close(got.get(), want.get(), kExact, name("first_token_pool", k, false));
    EXPECT_TRUE(got.guards_intact());
    // And independently: row b is x[b, 0, :].
    for (std::int64_t b = 0; b < k.B; ++b)
      EXPECT_EQ(std::memcmp(got.get().data<float>() + b * k.C, x.data<float>() + b * k.T * k.C,
                            std::size_t(k.C) * sizeof(float)),
                0)
          << b;
  }
}

TEST(FirstTokenPool, BackwardAccumulatesOnlyIntoTokenZero) {
  for (const Case& k : kCases) {
    Tensor dout = random_tensor({k.B, k.C}, 13), dx0 = random_tensor({k.B, k.T, k.C}, 14);
    Guarded got(dx0), want(dx0);
    cpu_kernels().first_token_pool_backward(dout, got.get());
    reference().first_token_pool_backward(dout, want.get());
    expect_close(got.get(), want.get(), kExact, name("first_token_pool_backward", k, false));
    EXPECT_TRUE(got.guards_intact());
    const float* g = got.get().data<float>();
    for (std::int64_t b = 0; b < k.B; ++b)
      for (std::int64_t t = 0; t < k.T; ++t)
        for (std::int64_t c = 0; c < k.C; ++c) {
          const std::int64_t i = (b * k.T + t) * k.C + c;
          const float expect = dx0.data<float>()[i] + (t == 0 ? dout.data<float>()[b * k.C + c] : 0.0f);
          ASSERT_EQ(g[i], expect) << b << "," << t << "," << c;
        }
  }
}

TEST(FirstTokenPool, GradientMatchesFiniteDifferences) {
  const std::int64_t B = 2, T = 3, C = 4;
  auto x = random_doubles(std::size_t(B * T * C), 15), w = random_doubles(std::size_t(B * C), 16);
  std::vector<double> y(w.size());
  auto loss = [&] {
    ref::first_token_pool(x.data(), y.data(), B, T, C);
    return weighted_sum(y, w);
  };
  std::vector<double> dx(x.size(), 0.0);
  ref::first_token_pool_backward(w.data(), dx.data(), B, T, C);
  expect_gradient(x, loss, dx, "first_token_pool dx");
}

TEST(FirstTokenPool, RejectsBadArguments) {
  Tensor x = Tensor::zeros({2, 3, 4}), out = Tensor::zeros({2, 5}), none;
  EXPECT_EQ(error_of([&] { cpu_kernels().first_token_pool(x, out); }),
            "first_token_pool: out has shape (2, 5), expected (2, 4)");
  Tensor x2 = Tensor::zeros({2, 4}), ok = Tensor::zeros({2, 4});
  EXPECT_NE(error_of([&] { cpu_kernels().first_token_pool(x2, ok); }).find("first_token_pool: x (2, 4) has rank 2"),
            std::string::npos);
  Tensor dx = Tensor::zeros({3, 3, 4});
  EXPECT_NE(error_of([&] { cpu_kernels().first_token_pool_backward(ok, dx); })
                .find("first_token_pool_backward: dx has shape (3, 3, 4), expected (2, 3, 4)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { cpu_kernels().first_token_pool_backward(none, dx); })
                .find("first_token_pool_backward: dout is undefined"),
            std::string::npos);
}

}  // namespace
}  // namespace tandem::test
