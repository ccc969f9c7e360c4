// Loss ops: cross-entropy forward and backward.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernels.hpp"
#include "ops/cross_entropy.hpp"
#include "op_test_util.hpp"

namespace tandem::test {
namespace {

struct CeShape {
  std::int64_t n, v;
};

// Size 1, primes, 15 = 3·5 rows of 7, a ragged width, and GPT-2's vocabulary with a logits
// tensor of 12.9 MB (larger than L2 and most of L3).
const CeShape kShapes[] = {{1, 1}, {1, 7}, {7, 13}, {15, 7}, {37, 1031}, {3, 4097}, {64, 50257}};

constexpr std::int32_t kIgnore = -100;

// lse: per row, exps are summed in float over blocks of 512 (≤ 32 terms per SIMD lane,
// relative error ≲ 2e-6 worst case) and the blocks in double; log turns that into an
// absolute error, and rounding lse (|lse| ≲ 20) to float adds 1 ulp ≈ 1e-6.
constexpr Bound kLseBound{1e-13, 3e-6, 2e-7};
// loss: the mean of per-row lse − logit in double, so it inherits the lse error.
constexpr Bound kLossBound{1e-12, 3e-6, 2e-7};
// dlogits: exp(x − lse) with lse rounded to float (relative error |lse|·6e-8 ≈ 1.2e-6) plus
// Eigen's exp (≤ 2 ulp) and the float multiply-add into dlogits.
constexpr Bound kGradBound{1e-11, 1e-10, 3e-6};

// Logits spread over [-8, 8) so rows are far from uniform; every 5th target ignored.
Tensor make_logits(const CeShape& s, std::uint64_t seed) { return random_tensor(Shape{s.n, s.v}, seed, -8.0f, 8.0f); }

Tensor make_targets(const CeShape& s, std::uint64_t seed, std::int32_t ignore = kIgnore) {
  Tensor t = random_ids(Shape{s.n}, seed, 0, static_cast<std::int32_t>(s.v - 1));
  auto* p = t.data<std::int32_t>();
  for (std::int64_t i = 3; i < s.n; i += 5) p[i] = ignore;
  return t;
}

std::int64_t count_kept(const Tensor& targets, std::int32_t ignore) {
  std::int64_t c = 0;
  const auto* p = targets.data<std::int32_t>();
  for (std::int64_t i = 0; i < targets.numel(); ++i) c += p[i] != ignore;
  return c;
}

TEST(CrossEntropy, MatchesReference) {
  for (const CeShape& s : kShapes) {
    const std::string what = "cross_entropy " + Shape{s.n, s.v}.str();
    Tensor logits = make_logits(s, 11), targets = make_targets(s, 12);
    Guarded loss(Shape{1}), lse(Shape{s.n}), rloss(Shape{1}), rlse(Shape{s.n});
    cpu_kernels().cross_entropy(logits, targets, loss.get(), lse.get(), {});
    reference().cross_entropy(logits, targets, rloss.get(), rlse.get(), {});
    expect_close(lse.get(), rlse.get(), kLseBound, what + " lse");
    expect_close(loss.get(), rloss.get(), kLossBound, what + " loss");
    EXPECT_TRUE(loss.guards_intact() && lse.guards_intact()) << what;
  }
}

TEST(CrossEntropy, UniformRowsGiveLogV) {
  // Equal logits: softmax is 1/V, so lse = c + log V and every row's loss is log V.
  const std::int64_t n = 3, v = 37;
  Tensor logits = Tensor::empty({n, v});
  logits.fill(2.5f);
  std::vector<std::int32_t> t = {0, 36, 17};
  Tensor targets = Tensor::from(std::span<const std::int32_t>(t), Shape{n});
  for (OpKernels* k : {&cpu_kernels(), &reference()}) {
    Tensor loss = Tensor::zeros({1}), lse = Tensor::zeros({n});
    k->cross_entropy(logits, targets, loss, lse, {});
    EXPECT_NEAR(loss.data<float>()[0], std::log(37.0), 1e-6) << k->name();
    for (std::int64_t i = 0; i < n; ++i) EXPECT_NEAR(lse.data<float>()[i], 2.5 + std::log(37.0), 2e-6) << k->name();
  }
}

TEST(CrossEntropy, IgnoredRowsDoNotCount) {
  // Rows with target == ignore_index (here a valid class id, 2) are left out of the mean:
  // the loss equals the mean over the remaining rows computed from the reference's lse.
  const CeShape s{9, 5};
  Tensor logits = make_logits(s, 21);
  std::vector<std::int32_t> t = {2, 0, 4, 2, 1, 3, 2, 2, 0};
  Tensor targets = Tensor::from(std::span<const std::int32_t>(t), Shape{s.n});
  CrossEntropyArgs args;
  args.ignore_index = 2;
  Tensor rl = Tensor::zeros({1}), rlse = Tensor::zeros({s.n});
  reference().cross_entropy(logits, targets, rl, rlse, args);
  double sum = 0;
  int kept = 0;
  for (std::int64_t i = 0; i < s.n; ++i) {
    if (t[static_cast<std::size_t>(i)] == 2) continue;
    sum += double(rlse.data<float>()[i]) - double(logits.data<float>()[i * s.v + t[static_cast<std::size_t>(i)]]);
    ++kept;
  }
  Tensor loss = Tensor::zeros({1}), lse = Tensor::zeros({s.n});
  cpu_kernels().cross_entropy(logits, targets, loss, lse, args);
  EXPECT_NEAR(loss.data<float>()[0], sum / kept, 1e-6);
  EXPECT_NEAR(rl.data<float>()[0], sum / kept, 1e-6);
  expect_close(lse, rlse, kLseBound, "lse with ignored rows");

  // Backward: ignored rows get nothing.
  Tensor d0 = random_tensor(Shape{s.n, s.v}, 22);
  Guarded d(d0), rd(d0);
  cpu_kernels().cross_entropy_backward(logits, targets, lse, 1.5f, d.get(), args);
  reference().cross_entropy_backward(logits, targets, rlse, 1.5f, rd.get(), args);
  expect_close(d.get(), rd.get(), kGradBound, "backward with ignored rows");
  for (std::int64_t i = 0; i < s.n; ++i) {
    if (t[static_cast<std::size_t>(i)] != 2) continue;
    for (std::int64_t j = 0; j < s.v; ++j)
      EXPECT_EQ(d.get().data<float>()[i * s.v + j], d0.data<float>()[i * s.v + j]) << "row " << i;
  }
}

TEST(CrossEntropy, AllRowsIgnored) {
  const CeShape s{4, 6};
  Tensor logits = make_logits(s, 31);
  std::vector<std::int32_t> t(4, kIgnore);
  Tensor targets = Tensor::from(std::span<const std::int32_t>(t), Shape{s.n});
  for (OpKernels* k : {&cpu_kernels(), &reference()}) {
    Tensor loss = Tensor::empty({1}), lse = Tensor::zeros({s.n}), rlse = Tensor::zeros({s.n});
    loss.fill(7.0f);
    k->cross_entropy(logits, targets, loss, lse, {});
    EXPECT_EQ(loss.data<float>()[0], 0.0f) << k->name();
    // lse is still written for every row.
    std::vector<std::int32_t> t0(4, 0);
    Tensor any = Tensor::from(std::span<const std::int32_t>(t0), Shape{s.n});
    Tensor l2 = Tensor::zeros({1});
    reference().cross_entropy(logits, any, l2, rlse, {});
    expect_close(lse, rlse, kLseBound, std::string(k->name()) + " lse when all ignored");
    Tensor d0 = random_tensor(Shape{s.n, s.v}, 32);
    Tensor d = d0.clone();
    k->cross_entropy_backward(logits, targets, lse, 1.0f, d, {});
    EXPECT_TRUE(bitwise_equal(d, d0)) << k->name() << ": all-ignored backward changed dlogits";
  }
}

TEST(CrossEntropy, BackwardMatchesReference) {
  for (const CeShape& s : kShapes) {
    const std::string what = "cross_entropy_backward " + Shape{s.n, s.v}.str();
    Tensor logits = make_logits(s, 41), targets = make_targets(s, 42);
    Tensor loss = Tensor::zeros({1}), lse = Tensor::zeros({s.n});
    reference().cross_entropy(logits, targets, loss, lse, {});
    const float dloss = static_cast<float>(std::max<std::int64_t>(count_kept(targets, kIgnore), 1)) * 0.75f;
    // From zero, so the comparison sees the gradient itself ...
    Guarded d(Shape{s.n, s.v}), rd(Shape{s.n, s.v});
    cpu_kernels().cross_entropy_backward(logits, targets, lse, dloss, d.get(), {});
    reference().cross_entropy_backward(logits, targets, lse, dloss, rd.get(), {});
    expect_close(d.get(), rd.get(), kGradBound, what + " from zero");
    EXPECT_TRUE(d.guards_intact()) << what;
    // ... and from non-zero values of a similar size, to prove it accumulates.
    Tensor d0 = random_tensor(Shape{s.n, s.v}, 43, -1e-3f, 1e-3f);
    Guarded a(d0), ra(d0);
    cpu_kernels().cross_entropy_backward(logits, targets, lse, dloss, a.get(), {});
    reference().cross_entropy_backward(logits, targets, lse, dloss, ra.get(), {});
    expect_close(a.get(), ra.get(), kGradBound, what + " accumulated");
    EXPECT_TRUE(a.guards_intact()) << what;
  }
}

TEST(CrossEntropy, GradientMatchesFiniteDifferences) {
  const std::int64_t n = 6, v = 5;
  auto x = random_doubles(static_cast<std::size_t>(n * v), 51, -2.0, 2.0);
  const std::vector<std::int32_t> t = {1, 4, kIgnore, 0, kIgnore, 3};
  const double dloss = 0.7;
  std::vector<double> lse(static_cast<std::size_t>(n));
  auto loss = [&] {
    double l = 0;
    ref::cross_entropy(x.data(), t.data(), &l, lse.data(), n, v, kIgnore);
    return dloss * l;
  };
  loss();  // lse at the unperturbed point
  std::vector<double> dx(x.size(), 0.0);
  ref::cross_entropy_backward(x.data(), t.data(), lse.data(), dloss, dx.data(), n, v, kIgnore);
  expect_gradient(x, loss, dx, "cross_entropy dlogits", 1e-6, 1e-7);
}

TEST(CrossEntropy, IsDeterministic) {
  const CeShape s{300, 1031};
  Tensor logits = make_logits(s, 61), targets = make_targets(s, 62);
  Tensor l1 = Tensor::zeros({1}), l2 = Tensor::zeros({1}), e1 = Tensor::zeros({s.n}), e2 = Tensor::zeros({s.n});
  cpu_kernels().cross_entropy(logits, targets, l1, e1, {});
  cpu_kernels().cross_entropy(logits, targets, l2, e2, {});
  EXPECT_TRUE(bitwise_equal(l1, l2) && bitwise_equal(e1, e2));
  Tensor d1 = Tensor::zeros({s.n, s.v}), d2 = Tensor::zeros({s.n, s.v});
  cpu_kernels().cross_entropy_backward(logits, targets, e1, 2.0f, d1, {});
  cpu_kernels().cross_entropy_backward(logits, targets, e1, 2.0f, d2, {});
  EXPECT_TRUE(bitwise_equal(d1, d2));
}

TEST(CrossEntropy, NonFiniteLogitsAreAnError) {
  const float bad[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity()};
  // V = 37: positions in the 16-wide body and in the scalar tail of a row.
  const CeShape s{4, 37};
  const std::int64_t where[] = {0, 20, 3 * 37 + 35, 4 * 37 - 1};
  Tensor targets = make_targets(s, 71);
  for (OpKernels* k : {&cpu_kernels(), &reference()}) {
    for (float b : bad) {
      for (std::int64_t w : where) {
        Tensor logits = make_logits(s, 72);
        logits.data<float>()[w] = b;
        Tensor loss = Tensor::zeros({1}), lse = Tensor::zeros({s.n});
        EXPECT_EQ(error_of([&] { k->cross_entropy(logits, targets, loss, lse, {}); }),
                  "cross_entropy: logits (4, 37) contains NaN or Inf")
            << k->name() << " value " << b << " at " << w;
      }
    }
  }
}

TEST(CrossEntropy, RejectsBadArguments) {
  const std::int64_t n = 4, v = 5;
  Tensor logits = Tensor::zeros({n, v}), loss = Tensor::zeros({1}), lse = Tensor::zeros({n});
  std::vector<std::int32_t> t = {0, 4, 7, kIgnore};
  Tensor targets = Tensor::from(std::span<const std::int32_t>(t), Shape{n});
  OpKernels& k = cpu_kernels();
  // Exact messages.
  EXPECT_EQ(error_of([&] { k.cross_entropy(logits, targets, loss, lse, {}); }),
            "cross_entropy: targets[2] = 7 is outside [0, 5) and is not ignore_index -100");
  t[2] = 1;
  Tensor ok_targets = Tensor::from(std::span<const std::int32_t>(t), Shape{n});
  Tensor short_targets = Tensor::zeros({3}, DType::I32);
  EXPECT_EQ(error_of([&] { k.cross_entropy(logits, short_targets, loss, lse, {}); }),
            "cross_entropy: targets has shape (3), expected (4)");
  Tensor logits3 = Tensor::zeros({2, 2, 5});
  EXPECT_EQ(error_of([&] { k.cross_entropy(logits3, ok_targets, loss, lse, {}); }),
            "cross_entropy: logits (2, 2, 5) has rank 3, expected 2");

  auto expect_has = [](const std::string& msg, const std::string& part) {
    EXPECT_NE(msg.find(part), std::string::npos) << "message: " << msg << "\nexpected to contain: " << part;
  };
  // A negative target that is not ignore_index.
  t[2] = -1;
  Tensor neg = Tensor::from(std::span<const std::int32_t>(t), Shape{n});
  expect_has(error_of([&] { k.cross_entropy(logits, neg, loss, lse, {}); }), "cross_entropy: targets[2] = -1");
  // Wrong dtypes, shapes, empty and undefined tensors.
  Tensor f32_targets = Tensor::zeros({n});
  expect_has(error_of([&] { k.cross_entropy(logits, f32_targets, loss, lse, {}); }),
             "cross_entropy: targets (4) has element type f32, expected i32");
  Tensor loss2 = Tensor::zeros({2});
  expect_has(error_of([&] { k.cross_entropy(logits, ok_targets, loss2, lse, {}); }),
             "cross_entropy: loss has shape (2), expected (1)");
  Tensor lse_bad = Tensor::zeros({n, 1});
  expect_has(error_of([&] { k.cross_entropy(logits, ok_targets, loss, lse_bad, {}); }),
             "cross_entropy: lse has shape (4, 1), expected (4)");
  Tensor empty = Tensor::zeros({0, v});
  expect_has(error_of([&] { k.cross_entropy(empty, ok_targets, loss, lse, {}); }), "cross_entropy: logits (0, 5) is empty");
  Tensor undefined;
  expect_has(error_of([&] { k.cross_entropy(logits, ok_targets, loss, undefined, {}); }),
             "cross_entropy: lse is undefined");
  Tensor wide = Tensor::zeros({n, 2 * v});
  Tensor strided = wide.narrow(1, 0, v);
  expect_has(error_of([&] { k.cross_entropy(strided, ok_targets, loss, lse, {}); }),
             "cross_entropy: logits (4, 5) is a strided view");

  // Backward.
  Tensor dl = Tensor::zeros({n, v});
  EXPECT_EQ(error_of([&] { k.cross_entropy_backward(logits, ok_targets, lse, std::nanf(""), dl, {}); }),
            "cross_entropy_backward: dloss is nan, expected a finite value");
  Tensor dl_bad = Tensor::zeros({v, n});
  expect_has(error_of([&] { k.cross_entropy_backward(logits, ok_targets, lse, 1.0f, dl_bad, {}); }),
             "cross_entropy_backward: dlogits has shape (5, 4), expected (4, 5)");
  expect_has(error_of([&] { k.cross_entropy_backward(logits, neg, lse, 1.0f, dl, {}); }),
             "cross_entropy_backward: targets[2] = -1");
  Tensor lse_nan = Tensor::zeros({n});
  lse_nan.data<float>()[1] = std::numeric_limits<float>::infinity();
  expect_has(error_of([&] { k.cross_entropy_backward(logits, ok_targets, lse_nan, 1.0f, dl, {}); }),
             "cross_entropy_backward: lse (4) contains NaN or Inf");
  expect_has(error_of([&] { k.cross_entropy_backward(logits, ok_targets, lse_bad, 1.0f, dl, {}); }),
             "cross_entropy_backward: lse has shape (4, 1), expected (4)");
  // The reference backend reports the same validation errors.
  EXPECT_EQ(error_of([&] { reference().cross_entropy(logits, short_targets, loss, lse, {}); }),
            "cross_entropy: targets has shape (3), expected (4)");
}

}  // namespace
}  // namespace tandem::test
