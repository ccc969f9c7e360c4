// Element-wise ops: residual add, GELU, dropout, bias add.
#include "backends/cpu/cpu_kernels.hpp"
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

}  // namespace
}  // namespace tandem::test
