// Bad input to the public op API: each case must throw tandem::Error whose message names
// the op and the shapes involved, and must not touch the outputs.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tandem/error.hpp"
#include "tandem/ops.hpp"

namespace tandem {
namespace {

// Runs @p call, expects a tandem::Error, and checks that every @p fragment is in its message.
template <class Call> void expect_error(Call&& call, const std::vector<std::string>& fragments) {
  try {
    call();
    FAIL() << "no error; expected one mentioning " << fragments.front();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.category(), ErrorCategory::InvalidArgument) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
  }
}

TEST(PublicApiErrors, MatmulInnerDimensionMismatch) {
  Tensor a = Tensor::zeros({3, 5}), b = Tensor::zeros({4, 7}), out = Tensor::zeros({3, 7});
  out.fill(1.0f);
  expect_error([&] { ops::matmul(a, b, out); }, {"matmul", "(3, 5)", "(4, 7)"});
  EXPECT_EQ(out.data<float>()[0], 1.0f) << "output touched by a failed call";
}

TEST(PublicApiErrors, MatmulWrongOutputShape) {
  Tensor a = Tensor::zeros({3, 5}), b = Tensor::zeros({5, 7}), out = Tensor::zeros({7, 3});
  expect_error([&] { ops::matmul(a, b, out); }, {"matmul", "out", "(7, 3)", "(3, 7)"});
}

TEST(PublicApiErrors, EmptyTensorsAreRejected) {
  Tensor a = Tensor::zeros({0, 4}), b = Tensor::zeros({0, 4}), out = Tensor::zeros({0, 4});
  expect_error([&] { ops::residual_add(a, b, out); }, {"residual_add", "(0, 4)", "empty"});
  Tensor x = Tensor::zeros({2, 0}), w = Tensor::zeros({0}), y = Tensor::zeros({2, 0});
  Tensor mean = Tensor::zeros({2}), rstd = Tensor::zeros({2});
  expect_error([&] { ops::layernorm(x, w, w, 1e-5f, y, mean, rstd); }, {"layernorm", "(2, 0)", "empty"});
}

TEST(PublicApiErrors, UndefinedAndWrongDtype) {
  Tensor x = Tensor::zeros({2, 3}), out = Tensor::zeros({2, 3});
  expect_error([&] { ops::gelu(Tensor(), out, GeluKind::Tanh); }, {"gelu", "undefined"});
  Tensor ids = Tensor::zeros({2, 3}, DType::F32);  // ids must be i32
  Tensor wte = Tensor::zeros({10, 4}), wpe = Tensor::zeros({3, 4}), emb = Tensor::zeros({2, 3, 4});
  expect_error([&] { ops::embedding(ids, wte, wpe, emb); }, {"embedding", "ids", "f32", "i32"});
}

TEST(PublicApiErrors, StridedViewIsRejectedWhereContiguityIsNeeded) {
  Tensor t = Tensor::zeros({4, 6});
  Tensor view = t.narrow(1, 0, 3);
  Tensor out = Tensor::zeros({4, 3});
  expect_error([&] { ops::softmax(view, out); }, {"softmax", "(4, 3)", "strided"});
}

TEST(PublicApiErrors, OutOfRangeTokenIds) {
  std::vector<std::int32_t> v{0, 1, 10};
  Tensor ids = Tensor::from(v, {1, 3});
  Tensor wte = Tensor::zeros({10, 4}), wpe = Tensor::zeros({3, 4}), emb = Tensor::zeros({1, 3, 4});
  expect_error([&] { ops::embedding(ids, wte, wpe, emb); }, {"embedding", "10"});
  std::vector<std::int32_t> tv{0, 12};
  Tensor targets = Tensor::from(tv, {2});
  Tensor logits = Tensor::zeros({2, 5}), loss = Tensor::zeros({1}), lse = Tensor::zeros({2});
  expect_error([&] { ops::cross_entropy(logits, targets, loss, lse); }, {"cross_entropy", "12"});
}

TEST(PublicApiErrors, NaNWhereItMatters) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // A NaN logit would silently poison the loss and every gradient.
  Tensor logits = Tensor::zeros({2, 5});
  logits.data<float>()[3] = nan;
  std::vector<std::int32_t> tv{0, 1};
  Tensor targets = Tensor::from(tv, {2}), loss = Tensor::zeros({1}), lse = Tensor::zeros({2});
  expect_error([&] { ops::cross_entropy(logits, targets, loss, lse); }, {"cross_entropy", "logits", "(2, 5)", "NaN"});

  // A NaN gradient must not reach the weights: AdamW refuses and leaves them as they were.
  Tensor p = Tensor::zeros({8}), g = Tensor::zeros({8}), m = Tensor::zeros({8}), v = Tensor::zeros({8});
  p.fill(0.5f);
  g.data<float>()[7] = nan;
  expect_error([&] { ops::adamw(p, g, m, v, AdamWArgs{}); }, {"adamw", "grad", "(8)", "NaN"});
  for (int i = 0; i < 8; ++i) EXPECT_EQ(p.data<float>()[i], 0.5f);

  // Clipping with a non-finite norm is an error, and the gradients are left unchanged.
  std::vector<Tensor> grads{Tensor::zeros({3}), Tensor::zeros({2})};
  grads[0].fill(1.0f);
  grads[1].data<float>()[0] = std::numeric_limits<float>::infinity();
  expect_error([&] { ops::clip_grad_norm(grads, 1.0f); }, {"clip_grad_norm"});
  EXPECT_EQ(grads[0].data<float>()[0], 1.0f);
}

TEST(PublicApiErrors, BadScalarArguments) {
  Tensor x = Tensor::zeros({2, 4}), out = Tensor::zeros({2, 4});
  expect_error([&] { ops::dropout(x, out, DropoutArgs{1.0f, 0}); }, {"dropout", "p"});
  Tensor w = Tensor::zeros({4}), mean = Tensor::zeros({2}), rstd = Tensor::zeros({2});
  expect_error([&] { ops::layernorm(x, w, w, 0.0f, out, mean, rstd); }, {"layernorm", "eps"});
  Tensor q = Tensor::zeros({1, 3, 10}), probs = Tensor::zeros({1, 3, 3, 3}), o = Tensor::zeros({1, 3, 10});
  expect_error([&] { ops::attention(q, q, q, Tensor(), o, probs, AttentionArgs{3, false, 0.0f}); },
               {"attention", "n_head", "10"});
}

}  // namespace
}  // namespace tandem
