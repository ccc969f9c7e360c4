// Linear algebra ops: matmul (all transposes, batched and shared weights) and LoRA.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernels.hpp"
#include "ops/lora.hpp"
#include "ops/matmul.hpp"
#include "op_test_util.hpp"

namespace tandem::test {
namespace {

using i64 = std::int64_t;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

Shape make_shape(std::vector<i64> dims) { return Shape(std::span<const i64>(dims.data(), dims.size())); }

std::vector<i64> cat(std::vector<i64> lead, std::initializer_list<i64> tail) {
  lead.insert(lead.end(), tail);
  return lead;
}

std::string flags(bool ta, bool tb) { return std::string(ta ? "T" : "N") + (tb ? "T" : "N"); }

// One matmul problem: a batch (leading dims), M, K, N, transposes, and b shared or batched.
struct MatMulCase {
  std::vector<i64> lead;
  i64 m, k, n;
  bool trans_a, trans_b;
  bool shared_b;  // b is rank 2 while a is batched

  [[nodiscard]] Shape a() const { return make_shape(cat(lead, {trans_a ? k : m, trans_a ? m : k})); }
  [[nodiscard]] Shape b() const {
    const std::vector<i64> lead_b = shared_b ? std::vector<i64>{} : lead;
    return make_shape(cat(lead_b, {trans_b ? n : k, trans_b ? k : n}));
  }
  [[nodiscard]] Shape out() const { return make_shape(cat(lead, {m, n})); }
  [[nodiscard]] std::string str() const {
    return "a " + a().str() + " b " + b().str() + " " + flags(trans_a, trans_b);
  }
};

// fp32 GEMM against a double reference. A length-K fp32 dot product of terms in [-1, 1)
// (products of ~1/3 rms) random-walks to an error of about u·K/3 (u = 6e-8); allow 6× that,
// times |alpha|, plus 1e-6 for beta·out. Relative rms error ≈ u·sqrt(K): NMSE <= 1e-11.
// A product of a computed intermediate (magnitude ~sqrt(Ki)/3, its own error ~u·Ki/3) over
// Ko more terms, as LoRA chains, gets Ko·sqrt(Ki) + sqrt(Ko)·Ki in place of K.
Bound chained_bound(i64 ko, i64 ki, double scale) {
  const double terms = double(ko) * std::sqrt(double(ki)) + std::sqrt(double(ko)) * double(ki);
  return {1e-11, 1e-6 + 1.2e-7 * terms * std::abs(scale), 1e-5};
}
Bound matmul_bound(i64 k, double alpha) { return chained_bound(k, 1, alpha); }

// Leading-dim layouts: unbatched, batch 2 (rank 3), batch 2×3 (rank 4), each b batched or shared.
struct Layout {
  std::vector<i64> lead;
  bool shared_b;
};
const Layout kLayouts[] = {{{}, false}, {{2}, false}, {{2}, true}, {{2, 3}, false}, {{2, 3}, true}};

struct Mkn {
  i64 m, k, n;
};
const Mkn kSizes[] = {{1, 1, 1}, {13, 17, 19}, {3, 5, 7}, {7, 5, 3}, {40, 33, 70}};

std::vector<MatMulCase> all_cases() {
  std::vector<MatMulCase> cases;
  for (const Mkn& s : kSizes)
    for (const Layout& l : kLayouts)
      for (int t = 0; t < 4; ++t) cases.push_back({l.lead, s.m, s.k, s.n, (t & 1) != 0, (t & 2) != 0, l.shared_b});
  return cases;
}

void check_matmul_forward(const MatMulCase& c, const MatMulArgs& args, std::uint64_t seed) {
  Tensor a = random_tensor(c.a(), seed), b = random_tensor(c.b(), seed + 1);
  Tensor out0 = random_tensor(c.out(), seed + 2);
  Guarded got(out0), want(out0);
  cpu_kernels().matmul(a, b, got.get(), args);
  reference().matmul(a, b, want.get(), args);
  expect_close(got.get(), want.get(), matmul_bound(c.k, args.alpha),
               "matmul " + c.str() + " alpha " + std::to_string(args.alpha) + " beta " + std::to_string(args.beta));
  EXPECT_TRUE(got.guards_intact()) << c.str();
}

void check_matmul_backward(const MatMulCase& c, const MatMulArgs& args, std::uint64_t seed, bool need_da = true,
                           bool need_db = true) {
  Tensor a = random_tensor(c.a(), seed), b = random_tensor(c.b(), seed + 1);
  Tensor dout = random_tensor(c.out(), seed + 2);
  Tensor da0 = random_tensor(c.a(), seed + 3), db0 = random_tensor(c.b(), seed + 4);
  Guarded da(da0), db(db0), rda(da0), rdb(db0);
  Tensor none;
  cpu_kernels().matmul_backward(a, b, dout, need_da ? da.get() : none, need_db ? db.get() : none, args);
  reference().matmul_backward(a, b, dout, need_da ? rda.get() : none, need_db ? rdb.get() : none, args);
  // da sums over N, db over M (and the batch when b is shared).
  const i64 batch = c.out().numel() / (c.m * c.n);
  const i64 db_len = c.m * (c.shared_b ? batch : 1);
  if (need_da) {
    expect_close(da.get(), rda.get(), matmul_bound(c.n, args.alpha), "matmul_backward da " + c.str());
  } else {
    expect_close(da.get(), da0, Bound{0, 0, 0}, "untouched da " + c.str());
  }
  if (need_db) {
    expect_close(db.get(), rdb.get(), matmul_bound(db_len, args.alpha), "matmul_backward db " + c.str());
  } else {
    expect_close(db.get(), db0, Bound{0, 0, 0}, "untouched db " + c.str());
  }
  EXPECT_TRUE(da.guards_intact() && db.guards_intact()) << c.str();
}

// ---------------------------------------------------------------------------------------
// matmul
// ---------------------------------------------------------------------------------------

// Worked by hand: [[1,2],[3,4]]·[[5,6],[7,8]] = [[19,22],[43,50]]; aᵀ·b = [[26,30],[38,44]];
// a·bᵀ = [[17,23],[39,53]]; aᵀ·bᵀ = [[23,31],[34,46]]. Both backends.
TEST(MatMul, SmallProductsWorkedByHand) {
  const float av[] = {1, 2, 3, 4}, bv[] = {5, 6, 7, 8};
  Tensor a = Tensor::from(av, {2, 2}), b = Tensor::from(bv, {2, 2});
  const float want[4][4] = {{19, 22, 43, 50}, {26, 30, 38, 44}, {17, 23, 39, 53}, {23, 31, 34, 46}};
  for (OpKernels* k : {&cpu_kernels(), &reference()}) {
    for (int t = 0; t < 4; ++t) {
      Tensor out = Tensor::zeros({2, 2});
      k->matmul(a, b, out, {.trans_a = (t & 1) != 0, .trans_b = (t & 2) != 0});
      for (int i = 0; i < 4; ++i) EXPECT_EQ(out.data<float>()[i], want[t][i]) << k->name() << " case " << t;
    }
  }
}

TEST(MatMul, MatchesReferenceAllTransposesAndLayouts) {
  std::uint64_t seed = 100;
  for (const MatMulCase& c : all_cases()) {
    check_matmul_forward(c, {.trans_a = c.trans_a, .trans_b = c.trans_b}, seed);
    check_matmul_forward(c, {.trans_a = c.trans_a, .trans_b = c.trans_b, .alpha = -0.75f, .beta = 0.5f}, seed + 10);
    seed += 20;
  }
}

TEST(MatMul, BetaZeroDoesNotReadOut) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const MatMulCase& c : {MatMulCase{{}, 13, 17, 19, false, false, false}, MatMulCase{{2}, 3, 5, 7, true, true, true},
                              MatMulCase{{2}, 3, 5, 7, false, true, true}}) {
    Tensor a = random_tensor(c.a(), 1), b = random_tensor(c.b(), 2);
    Guarded got(c.out(), nan), want(c.out());
    cpu_kernels().matmul(a, b, got.get(), {.trans_a = c.trans_a, .trans_b = c.trans_b, .alpha = 2.0f});
    reference().matmul(a, b, want.get(), {.trans_a = c.trans_a, .trans_b = c.trans_b, .alpha = 2.0f});
    expect_close(got.get(), want.get(), matmul_bound(c.k, 2.0), "beta 0 over NaN " + c.str());
  }
}

// 512×768 · 768×1024: a 1.5 MiB, b 3 MiB, out 2 MiB, beyond L2 and the 4 MiB mark.
TEST(MatMul, LargerThanCacheMatchesReference) {
  for (int t : {0, 3}) {
    const MatMulCase c{{}, 512, 768, 1024, (t & 1) != 0, (t & 2) != 0, false};
    check_matmul_forward(c, {.trans_a = c.trans_a, .trans_b = c.trans_b, .alpha = 1.25f, .beta = -0.5f}, 7);
  }
  // Batched with a shared weight (the linear-layer case): folded into one 1024-row GEMM.
  check_matmul_forward({{4, 2}, 128, 768, 1024, false, false, true}, {}, 8);
  check_matmul_backward({{}, 512, 768, 1024, false, false, false}, {.alpha = 0.5f}, 9);
  check_matmul_backward({{4}, 128, 768, 1024, false, true, true}, {.trans_b = true}, 10);
}

TEST(MatMul, BackwardAccumulatesAndMatchesReference) {
  std::uint64_t seed = 500;
  for (const MatMulCase& c : all_cases()) {
    check_matmul_backward(c, {.trans_a = c.trans_a, .trans_b = c.trans_b}, seed);
    // beta is ignored by the backward pass.
    check_matmul_backward(c, {.trans_a = c.trans_a, .trans_b = c.trans_b, .alpha = 1.5f, .beta = 3.0f}, seed + 10);
    seed += 20;
  }
}

TEST(MatMul, BackwardSkipsUndefinedGradients) {
  for (bool shared : {false, true}) {
    for (int t = 0; t < 4; ++t) {
      const MatMulCase c{{3}, 5, 7, 4, (t & 1) != 0, (t & 2) != 0, shared};
      check_matmul_backward(c, {.trans_a = c.trans_a, .trans_b = c.trans_b}, 40, true, false);
      check_matmul_backward(c, {.trans_a = c.trans_a, .trans_b = c.trans_b}, 41, false, true);
      check_matmul_backward(c, {.trans_a = c.trans_a, .trans_b = c.trans_b}, 42, false, false);
    }
  }
}

TEST(MatMul, GradientMatchesFiniteDifferences) {
  for (const Layout& l : kLayouts) {
    for (int t = 0; t < 4; ++t) {
      const MatMulCase c{l.lead, 3, 4, 5, (t & 1) != 0, (t & 2) != 0, l.shared_b};
      const MatMulArgs args{.trans_a = c.trans_a, .trans_b = c.trans_b, .alpha = 0.7f};
      const op::MatMulDims d = op::matmul_dims(c.a(), c.b(), args);
      auto a = random_doubles(std::size_t(c.a().numel()), 60 + t);
      auto b = random_doubles(std::size_t(c.b().numel()), 70 + t);
      const auto w = random_doubles(std::size_t(c.out().numel()), 80 + t);
      std::vector<double> y(w.size());
      auto loss = [&] {
        ref::matmul(a.data(), b.data(), y.data(), d, c.trans_a, c.trans_b, args.alpha, 0.0);
        return weighted_sum(y, w);
      };
      std::vector<double> da(a.size(), 0.0), db(b.size(), 0.0);
      ref::matmul_backward(a.data(), b.data(), w.data(), da.data(), db.data(), d, c.trans_a, c.trans_b, args.alpha);
      expect_gradient(a, loss, da, "matmul da " + c.str());
      expect_gradient(b, loss, db, "matmul db " + c.str());
    }
  }
}

TEST(MatMul, RejectsInnerDimensionMismatch) {
  Tensor a = Tensor::zeros({3, 5}), b = Tensor::zeros({4, 7}), out = Tensor::zeros({3, 7});
  expect_error_text([&] { cpu_kernels().matmul(a, b, out, {}); },
                    "matmul: inner dimensions differ: a (3, 5) gives K = 5 but b (4, 7) gives K = 4");
  Tensor bt = Tensor::zeros({7, 4}), at = Tensor::zeros({5, 3});
  expect_error_text([&] { cpu_kernels().matmul(at, bt, out, {.trans_a = true, .trans_b = true}); },
                    "matmul: inner dimensions differ: a (5, 3) transposed gives K = 5 but b (7, 4) transposed gives "
                    "K = 4");
  Tensor dout = Tensor::zeros({3, 7}), da = Tensor::zeros({3, 5}), db = Tensor::zeros({4, 7});
  expect_error([&] { cpu_kernels().matmul_backward(a, b, dout, da, db, {}); },
               "matmul_backward: inner dimensions differ: a (3, 5)");
}

TEST(MatMul, RejectsBadShapesAndArguments) {
  Tensor a3 = Tensor::zeros({2, 3, 5}), out3 = Tensor::zeros({2, 3, 7});
  Tensor b_other_batch = Tensor::zeros({4, 5, 7});
  expect_error_text([&] { cpu_kernels().matmul(a3, b_other_batch, out3, {}); },
                    "matmul: batch dimensions differ: a (2, 3, 5) and b (4, 5, 7)");
  Tensor a4 = Tensor::zeros({2, 3, 3, 5}), b4 = Tensor::zeros({2, 4, 5, 7}), out4 = Tensor::zeros({2, 3, 3, 7});
  expect_error([&] { cpu_kernels().matmul(a4, b4, out4, {}); }, "matmul: batch dimensions differ: a (2, 3, 3, 5)");

  Tensor b2 = Tensor::zeros({5, 7});
  Tensor bad_out = Tensor::zeros({2, 7, 3});
  expect_error_text([&] { cpu_kernels().matmul(a3, b2, bad_out, {}); },
                    "matmul: out has shape (2, 7, 3), expected (2, 3, 7)");
  Tensor out2 = Tensor::zeros({3, 7});
  expect_error([&] { cpu_kernels().matmul(a3, b2, out2, {}); }, "matmul: out has shape (3, 7), expected (2, 3, 7)");

  // Ranks: a rank 1; a rank 2 with a batched b; b of rank 3 with a of rank 4.
  Tensor a1 = Tensor::zeros({5});
  expect_error_text([&] { cpu_kernels().matmul(a1, b2, out2, {}); },
                    "matmul: a (5) has rank 1, expected 2 to 4");
  Tensor a2 = Tensor::zeros({3, 5}), b3 = Tensor::zeros({2, 5, 7});
  expect_error([&] { cpu_kernels().matmul(a2, b3, out2, {}); }, "matmul: b (2, 5, 7) has rank 3, expected 2");
  Tensor b3x = Tensor::zeros({3, 5, 7});
  expect_error([&] { cpu_kernels().matmul(a4, b3x, out4, {}); },
               "matmul: b (3, 5, 7) has rank 3, expected 2 (shared) or 4");

  // dtype, empty, undefined, non-finite alpha / beta.
  Tensor ai = Tensor::zeros({3, 5}, DType::I32);
  expect_error([&] { cpu_kernels().matmul(ai, b2, out2, {}); }, "matmul: a (3, 5) has element type i32");
  Tensor empty = Tensor::zeros({0, 5}), out_empty = Tensor::zeros({0, 7});
  expect_error([&] { cpu_kernels().matmul(empty, b2, out_empty, {}); }, "matmul: a (0, 5) is empty");
  Tensor undefined;
  expect_error([&] { cpu_kernels().matmul(a2, undefined, out2, {}); }, "matmul: b is undefined");
  expect_error([&] { cpu_kernels().matmul(a2, b2, out2, {.alpha = std::numeric_limits<float>::infinity()}); },
               "matmul: alpha inf is not finite");
  expect_error([&] { cpu_kernels().matmul(a2, b2, out2, {.beta = std::numeric_limits<float>::quiet_NaN()}); },
               "matmul: beta");

  // Backward: gradients must match their operands; dout must match out.
  Tensor dout = Tensor::zeros({3, 7}), da_bad = Tensor::zeros({5, 3}), db = Tensor::zeros({5, 7});
  expect_error_text([&] { cpu_kernels().matmul_backward(a2, b2, dout, da_bad, db, {}); },
                    "matmul_backward: da has shape (5, 3), expected (3, 5)");
  Tensor da = Tensor::zeros({3, 5}), db_bad = Tensor::zeros({2, 5, 7});
  expect_error([&] { cpu_kernels().matmul_backward(a2, b2, dout, da, db_bad, {}); },
               "matmul_backward: db has shape (2, 5, 7), expected (5, 7)");
  Tensor dout_bad = Tensor::zeros({7, 3});
  expect_error([&] { cpu_kernels().matmul_backward(a2, b2, dout_bad, da, db, {}); },
               "matmul_backward: dout has shape (7, 3), expected (3, 7)");
}

TEST(MatMul, CostCountsFlopsAndBytes) {
  const OpCost f = op::matmul_cost(Shape{2, 3, 5}, Shape{5, 7}, {});
  EXPECT_DOUBLE_EQ(f.flops, 2.0 * 2 * 3 * 5 * 7);
  EXPECT_DOUBLE_EQ(f.bytes, 4.0 * (2 * 3 * 5 + 5 * 7 + 2 * 3 * 7));
  const OpCost b = op::matmul_backward_cost(Shape{2, 3, 5}, Shape{5, 7}, {}, true, false);
  EXPECT_DOUBLE_EQ(b.flops, 2.0 * 2 * 3 * 5 * 7);
}

// ---------------------------------------------------------------------------------------
// lora
// ---------------------------------------------------------------------------------------

struct LoraCase {
  Shape x;  // (..., Cin)
  i64 r, cout;
  [[nodiscard]] i64 n() const { return x.rows(); }
  [[nodiscard]] i64 cin() const { return x[-1]; }
  [[nodiscard]] Shape out() const {
    std::vector<i64> d(x.dims().begin(), x.dims().end());
    d.back() = cout;
    return make_shape(d);
  }
  [[nodiscard]] std::string str() const {
    return "x " + x.str() + " r " + std::to_string(r) + " cout " + std::to_string(cout);
  }
};

// x 512×768 (1.5 MiB), out 512×2304 (4.5 MiB): the largest is bigger than cache.
const LoraCase kLoraCases[] = {{Shape{1, 1}, 1, 1},          {Shape{3, 5}, 7, 3},        {Shape{13, 17}, 3, 19},
                               {Shape{2, 7, 15}, 4, 11},     {Shape{2, 3, 5, 7}, 2, 5}, {Shape{512, 768}, 16, 2304},
                               {Shape{4, 128, 768}, 8, 768}};

TEST(Lora, MatchesReferenceAndAddsIntoOut) {
  std::uint64_t seed = 900;
  for (const LoraCase& c : kLoraCases) {
    const LoraArgs args{.scale = 0.5f};
    Tensor x = random_tensor(c.x, seed), a = random_tensor({c.cin(), c.r}, seed + 1);
    Tensor b = random_tensor({c.r, c.cout}, seed + 2), out0 = random_tensor(c.out(), seed + 3);
    Guarded got(out0), want(out0), xa(Shape{c.n(), c.r}), rxa(Shape{c.n(), c.r});
    cpu_kernels().lora(x, a, b, got.get(), xa.get(), args);
    reference().lora(x, a, b, want.get(), rxa.get(), args);
    expect_close(xa.get(), rxa.get(), matmul_bound(c.cin(), 1.0), "lora xa " + c.str());
    expect_close(got.get(), want.get(), chained_bound(c.r, c.cin(), args.scale), "lora out " + c.str());
    EXPECT_TRUE(got.guards_intact() && xa.guards_intact()) << c.str();
    seed += 10;
  }
}

// The reference LoRA equals out0 + scale · (x·a)·b built from two reference matmuls.
TEST(Lora, ReferenceEqualsTwoMatmuls) {
  const LoraCase c{Shape{2, 7, 15}, 4, 11};
  Tensor x = random_tensor(c.x, 1), a = random_tensor({15, 4}, 2), b = random_tensor({4, 11}, 3);
  Tensor out0 = random_tensor(c.out(), 4);
  Tensor out = out0.clone(), xa = Tensor::zeros({14, 4});
  reference().lora(x, a, b, out, xa, {.scale = -1.5f});
  Tensor xa2 = Tensor::zeros({2, 7, 4}), want = out0.clone();
  reference().matmul(x, a, xa2, {});
  reference().matmul(xa2, b, want, {.alpha = -1.5f, .beta = 1.0f});
  expect_close(xa, xa2.reshape({14, 4}), Bound{1e-14, 1e-7, 1e-7}, "xa");
  expect_close(out, want, Bound{1e-13, 1e-6, 1e-6}, "out");
}

TEST(Lora, BackwardAccumulatesAndMatchesReference) {
  std::uint64_t seed = 1200;
  for (const LoraCase& c : kLoraCases) {
    for (bool need_dx : {true, false}) {
      const LoraArgs args{.scale = 2.0f};
      Tensor x = random_tensor(c.x, seed), a = random_tensor({c.cin(), c.r}, seed + 1);
      Tensor b = random_tensor({c.r, c.cout}, seed + 2), dout = random_tensor(c.out(), seed + 3);
      Tensor xa = Tensor::zeros({c.n(), c.r}), scratch = Tensor::zeros(c.out());
      reference().lora(x, a, b, scratch, xa, args);
      Tensor dx0 = random_tensor(c.x, seed + 4), da0 = random_tensor({c.cin(), c.r}, seed + 5);
      Tensor db0 = random_tensor({c.r, c.cout}, seed + 6);
      Guarded dx(dx0), da(da0), db(db0), rdx(dx0), rda(da0), rdb(db0);
      Tensor none;
      cpu_kernels().lora_backward(x, a, b, xa, dout, need_dx ? dx.get() : none, da.get(), db.get(), args);
      reference().lora_backward(x, a, b, xa, dout, need_dx ? rdx.get() : none, rda.get(), rdb.get(), args);
      const std::string what = c.str() + (need_dx ? "" : " without dx");
      // db: N terms of xa (~sqrt(Cin)); g: Cout terms, then da sums N of them and dx r of them.
      expect_close(db.get(), rdb.get(), chained_bound(c.n(), c.cin(), args.scale), "lora_backward db " + what);
      expect_close(da.get(), rda.get(), chained_bound(c.n(), c.cout, args.scale), "lora_backward da " + what);
      if (need_dx) {
        expect_close(dx.get(), rdx.get(), chained_bound(c.r, c.cout, args.scale), "lora_backward dx " + what);
      } else {
        expect_close(dx.get(), dx0, Bound{0, 0, 0}, "untouched dx " + what);
      }
      EXPECT_TRUE(dx.guards_intact() && da.guards_intact() && db.guards_intact()) << what;
      seed += 10;
    }
  }
}

TEST(Lora, GradientMatchesFiniteDifferences) {
  const i64 n = 6, cin = 5, r = 3, cout = 4;
  const double scale = 0.8;
  auto x = random_doubles(n * cin, 1), a = random_doubles(cin * r, 2), b = random_doubles(r * cout, 3);
  const auto out0 = random_doubles(n * cout, 4), w = random_doubles(n * cout, 5);
  std::vector<double> y(n * cout), xa(n * r);
  auto loss = [&] {
    y = out0;
    ref::lora(x.data(), a.data(), b.data(), y.data(), xa.data(), n, cin, r, cout, scale);
    return weighted_sum(y, w);
  };
  loss();  // xa at the unperturbed point
  std::vector<double> dx(x.size(), 0.0), da(a.size(), 0.0), db(b.size(), 0.0);
  ref::lora_backward(x.data(), a.data(), b.data(), xa.data(), w.data(), dx.data(), da.data(), db.data(), n, cin, r,
                     cout, scale);
  expect_gradient(x, loss, dx, "lora dx");
  expect_gradient(a, loss, da, "lora da");
  expect_gradient(b, loss, db, "lora db");
}

TEST(Lora, RejectsBadShapesAndArguments) {
  Tensor x = Tensor::zeros({2, 3, 5}), a = Tensor::zeros({5, 4}), b = Tensor::zeros({4, 7});
  Tensor out = Tensor::zeros({2, 3, 7}), xa = Tensor::zeros({6, 4});
  Tensor a_bad = Tensor::zeros({6, 4});
  expect_error_text([&] { cpu_kernels().lora(x, a_bad, b, out, xa, {}); },
                    "lora: a (6, 4) has 6 rows, expected Cin = 5 (the last dim of x (2, 3, 5))");
  Tensor b_bad = Tensor::zeros({3, 7});
  expect_error_text([&] { cpu_kernels().lora(x, a, b_bad, out, xa, {}); },
                    "lora: b (3, 7) has 3 rows, expected r = 4 (the columns of a (5, 4))");
  Tensor out_bad = Tensor::zeros({6, 7});
  expect_error([&] { cpu_kernels().lora(x, a, b, out_bad, xa, {}); },
               "lora: out has shape (6, 7), expected (2, 3, 7)");
  Tensor xa_bad = Tensor::zeros({2, 3, 4});
  expect_error([&] { cpu_kernels().lora(x, a, b, out, xa_bad, {}); },
               "lora: xa has shape (2, 3, 4), expected (6, 4)");
  Tensor x1 = Tensor::zeros({5});
  expect_error([&] { cpu_kernels().lora(x1, a, b, out, xa, {}); }, "lora: x (5) has rank 1, expected 2 to 4");
  Tensor a3 = Tensor::zeros({1, 5, 4});
  expect_error([&] { cpu_kernels().lora(x, a3, b, out, xa, {}); }, "lora: a (1, 5, 4) has rank 3, expected 2");
  Tensor a_empty = Tensor::zeros({5, 0}), b_empty = Tensor::zeros({0, 7}), xa_empty = Tensor::zeros({6, 0});
  expect_error([&] { cpu_kernels().lora(x, a_empty, b_empty, out, xa_empty, {}); }, "lora: a (5, 0) is empty");
  expect_error([&] { cpu_kernels().lora(x, a, b, out, xa, {.scale = std::numeric_limits<float>::quiet_NaN()}); },
               "lora: scale nan is not finite");

  Tensor dout = Tensor::zeros({2, 3, 7}), dx = Tensor::zeros({2, 3, 5}), da = Tensor::zeros({5, 4});
  Tensor db = Tensor::zeros({4, 7}), undefined;
  expect_error([&] { cpu_kernels().lora_backward(x, a, b, xa, dout, dx, undefined, db, {}); },
               "lora_backward: da is undefined");
  Tensor dx_bad = Tensor::zeros({6, 5});
  expect_error_text([&] { cpu_kernels().lora_backward(x, a, b, xa, dout, dx_bad, da, db, {}); },
                    "lora_backward: dx has shape (6, 5), expected (2, 3, 5)");
  Tensor dout_bad = Tensor::zeros({2, 3, 5});
  expect_error([&] { cpu_kernels().lora_backward(x, a, b, xa, dout_bad, dx, da, db, {}); },
               "lora_backward: dout has shape (2, 3, 5), expected (2, 3, 7)");
  Tensor db_bad = Tensor::zeros({7, 4});
  expect_error([&] { cpu_kernels().lora_backward(x, a, b, xa, dout, dx, da, db_bad, {}); },
               "lora_backward: db has shape (7, 4), expected (4, 7)");
  expect_error([&] { cpu_kernels().lora_backward(x, a, b, xa_bad, dout, dx, da, db, {}); },
               "lora_backward: xa has shape (2, 3, 4), expected (6, 4)");
}

}  // namespace
}  // namespace tandem::test
