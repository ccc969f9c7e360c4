// Token and position embedding: forward gather, backward scatter-add.
#include <tbb/global_control.h>

#include <algorithm>
#include <cstring>

#include "backends/cpu/cpu_kernels.hpp"
#include "ops/embedding.hpp"
#include "op_test_util.hpp"

namespace tandem::test {
namespace {

// The message of the tandem::Error that f throws, or "no error".
struct Case {
  std::int64_t B, T, V, C, P;
};
// Size 1, primes, a vocabulary small enough that ids repeat many times, and one whose
// tables and output exceed 4 MiB each.
const Case kCases[] = {{1, 1, 1, 1, 1}, {2, 3, 5, 7, 3}, {3, 5, 11, 7, 13}, {4, 64, 3, 33, 70}, {4, 256, 1031, 1031, 300}};

// Forward: each output is one f32 addition (or a copy), correctly rounded in both paths
// (double rounding of a sum of two floats is harmless), so the results are identical.
constexpr Bound kForwardBound{0.0, 0.0, 0.0};

// Backward: both paths sum each element's contributions in double, starting from the
// current gradient, and round once to f32; any summation order in double differs by far
// less than 1e-9 here (|terms| <= 1, at most a few hundred of them), so one f32 ulp.
constexpr Bound kScatterBound{1e-14, 1e-9, 0x1p-23};

TEST(Embedding, MatchesReference) {
  for (const Case& k : kCases) {
    for (bool with_pos : {true, false}) {
      const std::string what = "embedding B=" + std::to_string(k.B) + " T=" + std::to_string(k.T) +
                               " V=" + std::to_string(k.V) + " C=" + std::to_string(k.C) + (with_pos ? "" : " no wpe");
      Tensor ids = random_ids({k.B, k.T}, 1, 0, std::int32_t(k.V - 1));
      Tensor wte = random_tensor({k.V, k.C}, 2);
      Tensor wpe = with_pos ? random_tensor({k.P, k.C}, 3) : Tensor();
      Guarded got({k.B, k.T, k.C}, 7.0f), want({k.B, k.T, k.C});
      cpu_kernels().embedding(ids, wte, wpe, got.get());
      reference().embedding(ids, wte, wpe, want.get());
      expect_close(got.get(), want.get(), kForwardBound, what);
      EXPECT_TRUE(got.guards_intact()) << what;
    }
  }
}

TEST(Embedding, ForwardGathersTheRightRows) {
  // Independent of both implementations: spot-check rows by hand.
  Tensor ids = Tensor::from(std::vector<std::int32_t>{2, 0, 2, 1}, {2, 2});
  Tensor wte = random_tensor({3, 4}, 4), wpe = random_tensor({5, 4}, 5);
  Tensor out = Tensor::zeros({2, 2, 4});
  cpu_kernels().embedding(ids, wte, wpe, out);
  const float* o = out.data<float>();
  const float* te = wte.data<float>();
  const float* pe = wpe.data<float>();
  const int id[] = {2, 0, 2, 1};
  for (int i = 0; i < 4; ++i)
    for (int c = 0; c < 4; ++c) EXPECT_EQ(o[i * 4 + c], te[id[i] * 4 + c] + pe[(i % 2) * 4 + c]) << i << "," << c;
}

TEST(Embedding, BackwardAccumulatesAndMatchesReference) {
  for (const Case& k : kCases) {
    for (bool with_pos : {true, false}) {
      const std::string what = "embedding_backward B=" + std::to_string(k.B) + " T=" + std::to_string(k.T) +
                               " V=" + std::to_string(k.V) + " C=" + std::to_string(k.C) + (with_pos ? "" : " no dwpe");
      Tensor ids = random_ids({k.B, k.T}, 11, 0, std::int32_t(k.V - 1));
      Tensor dout = random_tensor({k.B, k.T, k.C}, 12);
      Tensor dwte0 = random_tensor({k.V, k.C}, 13), dwpe0 = random_tensor({k.P, k.C}, 14);
      Guarded dwte(dwte0), rdwte(dwte0), dwpe(dwpe0), rdwpe(dwpe0);
      Tensor none;
      cpu_kernels().embedding_backward(ids, dout, dwte.get(), with_pos ? dwpe.get() : none);
      reference().embedding_backward(ids, dout, rdwte.get(), with_pos ? rdwpe.get() : none);
      expect_close(dwte.get(), rdwte.get(), kScatterBound, what + " dwte");
      expect_close(dwpe.get(), rdwpe.get(), kScatterBound, what + " dwpe");
      if (!with_pos) {
        EXPECT_TRUE(bitwise_equal(dwpe.get(), dwpe0)) << what << ": dwpe touched";
      }
      EXPECT_TRUE(dwte.guards_intact() && dwpe.guards_intact()) << what;
    }
  }
}

TEST(Embedding, BackwardSumsRepeatedIdsAndLeavesOthers) {
  // ids {1, 1, 1}: row 1 of dwte collects all three rows of dout, rows 0 and 2 keep their values.
  Tensor ids = Tensor::from(std::vector<std::int32_t>{1, 1, 1}, {1, 3});
  Tensor dout = Tensor::from(std::vector<float>{1, 2, 10, 20, 100, 200}, {1, 3, 2});
  Tensor dwte = Tensor::from(std::vector<float>{5, 5, 0.5f, 0.25f, 7, 7}, {3, 2});
  Tensor dwpe = Tensor::from(std::vector<float>{1, 1, 1, 1, 1, 1, 9, 9}, {4, 2});
  cpu_kernels().embedding_backward(ids, dout, dwte, dwpe);
  const std::vector<float> want_te{5, 5, 111.5f, 222.25f, 7, 7};
  const std::vector<float> want_pe{2, 3, 11, 21, 101, 201, 9, 9};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(dwte.data<float>()[i], want_te[std::size_t(i)]) << i;
  for (int i = 0; i < 8; ++i) EXPECT_EQ(dwpe.data<float>()[i], want_pe[std::size_t(i)]) << i;
}

TEST(Embedding, BackwardIsDeterministicAcrossThreadCounts) {
  // Many repeats of few ids: any order change in the f32 sums would show in the bits.
  Tensor ids = random_ids({8, 512}, 21, 0, 9);
  Tensor dout = random_tensor({8, 512, 96}, 22);
  auto run = [&] {
    Tensor dwte = random_tensor({10, 96}, 23), dwpe = random_tensor({512, 96}, 24);
    cpu_kernels().embedding_backward(ids, dout, dwte, dwpe);
    return std::pair{dwte, dwpe};
  };
  const auto [a_te, a_pe] = run();
  const auto [b_te, b_pe] = run();
  EXPECT_TRUE(bitwise_equal(a_te, b_te) && bitwise_equal(a_pe, b_pe)) << "run to run";
  tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
  const auto [c_te, c_pe] = run();
  EXPECT_TRUE(bitwise_equal(a_te, c_te) && bitwise_equal(a_pe, c_pe)) << "one thread vs many";
}

TEST(Embedding, GradientMatchesFiniteDifferences) {
  const std::int64_t B = 2, T = 3, V = 4, C = 5, P = 4;
  const std::vector<std::int32_t> ids{3, 0, 3, 1, 3, 2};
  auto wte = random_doubles(std::size_t(V * C), 31), wpe = random_doubles(std::size_t(P * C), 32);
  auto w = random_doubles(std::size_t(B * T * C), 33);
  std::vector<double> y(w.size());
  auto loss = [&] {
    ref::embedding(ids.data(), wte.data(), wpe.data(), y.data(), B, T, C);
    return weighted_sum(y, w);
  };
  std::vector<double> dwte(wte.size(), 0.0), dwpe(wpe.size(), 0.0);
  ref::embedding_backward(ids.data(), w.data(), dwte.data(), dwpe.data(), B, T, C);
  expect_gradient(wte, loss, dwte, "embedding dwte");
  expect_gradient(wpe, loss, dwpe, "embedding dwpe");
}

TEST(Embedding, RejectsIdOutOfRange) {
  Tensor ids = Tensor::from(std::vector<std::int32_t>{0, 1, 2, 7, 0, 0}, {2, 3});
  Tensor wte = Tensor::zeros({7, 4}), wpe = Tensor::zeros({3, 4}), out = Tensor::zeros({2, 3, 4});
  EXPECT_EQ(error_of([&] { cpu_kernels().embedding(ids, wte, wpe, out); }),
            "embedding: ids (2, 3) holds 7 at [1, 0], outside the vocabulary [0, 7)");
  ids.data<std::int32_t>()[3] = 0;
  ids.data<std::int32_t>()[5] = -1;
  Tensor dout = Tensor::zeros({2, 3, 4}), dwte = Tensor::zeros({7, 4}), none;
  EXPECT_EQ(error_of([&] { cpu_kernels().embedding_backward(ids, dout, dwte, none); }),
            "embedding_backward: ids (2, 3) holds -1 at [1, 2], outside the vocabulary [0, 7)");
  // The reference backend validates the same way.
  EXPECT_NE(error_of([&] { reference().embedding_backward(ids, dout, dwte, none); }).find("holds -1 at [1, 2]"),
            std::string::npos);
}

TEST(Embedding, RejectsSequenceLongerThanPositions) {
  Tensor ids = Tensor::zeros({2, 3}, DType::I32);
  Tensor wte = Tensor::zeros({7, 4}), wpe = Tensor::zeros({2, 4}), out = Tensor::zeros({2, 3, 4});
  EXPECT_EQ(error_of([&] { cpu_kernels().embedding(ids, wte, wpe, out); }),
            "embedding: wpe (2, 4) has 2 positions, fewer than the sequence length T = 3 of ids (2, 3)");
  Tensor dout = Tensor::zeros({2, 3, 4}), dwte = Tensor::zeros({7, 4});
  EXPECT_NE(error_of([&] { cpu_kernels().embedding_backward(ids, dout, dwte, wpe); })
                .find("embedding_backward: dwpe (2, 4) has 2 positions"),
            std::string::npos);
}

TEST(Embedding, RejectsBadShapesAndTypes) {
  Tensor ids = Tensor::zeros({2, 3}, DType::I32), wte = Tensor::zeros({7, 4}), wpe = Tensor::zeros({5, 4});
  Tensor out = Tensor::zeros({2, 3, 4}), none;
  struct Bad {
    std::string want;
    std::function<void()> call;
  };
  const Bad bad[] = {
      {"embedding: ids (2, 3) has element type f32, expected i32",
       [&] { cpu_kernels().embedding(Tensor::zeros({2, 3}), wte, wpe, out); }},
      {"embedding: ids (6) has rank 1",
       [&] { cpu_kernels().embedding(Tensor::zeros({6}, DType::I32), wte, wpe, out); }},
      {"embedding: wte (7, 4, 1) has rank 3", [&] { cpu_kernels().embedding(ids, Tensor::zeros({7, 4, 1}), wpe, out); }},
      {"embedding: wte (0, 4) is empty", [&] { cpu_kernels().embedding(ids, Tensor::zeros({0, 4}), wpe, out); }},
      {"embedding: wpe (5, 3) has 3 channels, expected C = 4",
       [&] { cpu_kernels().embedding(ids, wte, Tensor::zeros({5, 3}), out); }},
      {"embedding: out has shape (2, 3, 5), expected (2, 3, 4)",
       [&] {
         Tensor o = Tensor::zeros({2, 3, 5});
         cpu_kernels().embedding(ids, wte, wpe, o);
       }},
      {"embedding: out is undefined", [&] { cpu_kernels().embedding(ids, wte, wpe, none); }},
      {"embedding_backward: dout has shape (2, 3, 5), expected (2, 3, 4)",
       [&] {
         Tensor dwte = Tensor::zeros({7, 4});
         cpu_kernels().embedding_backward(ids, Tensor::zeros({2, 3, 5}), dwte, none);
       }},
      {"embedding_backward: dwpe (5, 3) has 3 channels, expected C = 4",
       [&] {
         Tensor dwte = Tensor::zeros({7, 4}), dwpe = Tensor::zeros({5, 3});
         cpu_kernels().embedding_backward(ids, out, dwte, dwpe);
       }},
      {"embedding_backward: dwte is undefined", [&] { cpu_kernels().embedding_backward(ids, out, none, none); }},
  };
  for (const Bad& b : bad) {
    const std::string msg = error_of(b.call);
    EXPECT_EQ(msg.rfind(b.want, 0), 0u) << "got: " << msg << "\nwant prefix: " << b.want;
  }
}

}  // namespace
}  // namespace tandem::test
