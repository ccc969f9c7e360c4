// Bitwise reproducibility: every CPU op, forward and backward, gives identical bytes when
// run twice with the same inputs, seed and thread count. Sizes are large enough that the
// work is split across oneTBB tasks, so an order-dependent reduction would show up.
#include <oneapi/tbb/global_control.h>

#include <functional>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernels.hpp"
#include "op_test_util.hpp"

namespace tandem::test {
namespace {

constexpr std::int64_t B = 2, T = 64, C = 96, H = 4, V = 1000;

// One op call writing into fresh outputs; returns the outputs to compare.
using Case = std::function<std::vector<Tensor>()>;

struct Named {
  std::string name;
  Case run;
};

std::vector<Named> cases() {
  OpKernels& k = cpu_kernels();
  auto x = random_tensor({B, T, C}, 11), y = random_tensor({B, T, C}, 12);
  auto w = random_tensor({C}, 13), bias = random_tensor({C}, 14);
  auto ids = random_ids({B, T}, 15, 0, V - 1);
  auto wte = random_tensor({V, C}, 16), wpe = random_tensor({T, C}, 17);
  auto big = random_tensor({B * T, 4 * C}, 18), wfc = random_tensor({C, 4 * C}, 19);
  auto logits = random_tensor({B * T, V}, 20, -4, 4);
  auto targets = random_ids({B * T}, 21, 0, V - 1);
  auto la = random_tensor({C, 8}, 22), lb = random_tensor({8, C}, 23);
  auto mask = random_ids({B, T}, 24, 0, 1);
  Tensor fmask = Tensor::empty({B, T});
  for (std::int64_t i = 0; i < B * T; ++i) fmask.data<float>()[i] = float(mask.data<std::int32_t>()[i]);
  const AttentionArgs att{int(H), true, 0.0f};

  auto zeros = [](const Shape& s) { return Tensor::zeros(s); };
  std::vector<Named> v;
  v.push_back({"embedding", [=, &k] {
                 Tensor out = zeros({B, T, C}), dwte = zeros({V, C}), dwpe = zeros({T, C});
                 k.embedding(ids, wte, wpe, out);
                 k.embedding_backward(ids, x, dwte, dwpe);
                 return std::vector{out, dwte, dwpe};
               }});
  v.push_back({"matmul", [=, &k] {
                 Tensor out = zeros({B * T, 4 * C}), dx = zeros({B * T, C}), dw = zeros({C, 4 * C});
                 Tensor x2 = x.reshape({B * T, C});
                 k.matmul(x2, wfc, out, {});
                 k.matmul_backward(x2, wfc, big, dx, dw, {});
                 return std::vector{out, dx, dw};
               }});
  v.push_back({"bias", [=, &k] {
                 Tensor out = zeros({B, T, C}), db = zeros({C});
                 k.bias_add(x, bias, out);
                 k.bias_backward(y, db);
                 return std::vector{out, db};
               }});
  v.push_back({"layernorm", [=, &k] {
                 Tensor out = zeros({B, T, C}), mean = zeros({B * T}), rstd = zeros({B * T});
                 Tensor dx = zeros({B, T, C}), dw = zeros({C}), db = zeros({C});
                 k.layernorm(x, w, bias, 1e-5f, out, mean, rstd);
                 k.layernorm_backward(y, x, w, mean, rstd, dx, dw, db);
                 return std::vector{out, mean, rstd, dx, dw, db};
               }});
  v.push_back({"gelu", [=, &k] {
                 Tensor out = zeros({B * T, 4 * C}), dx = zeros({B * T, 4 * C});
                 k.gelu(big, out, GeluKind::Tanh);
                 k.gelu_backward(big, out, dx, GeluKind::Erf);
                 return std::vector{out, dx};
               }});
  v.push_back({"softmax", [=, &k] {
                 Tensor out = zeros({B * T, V}), dx = zeros({B * T, V});
                 k.softmax(logits, out);
                 k.softmax_backward(out, logits, dx);
                 return std::vector{out, dx};
               }});
  v.push_back({"attention", [=, &k] {
                 Tensor out = zeros({B, T, C}), probs = zeros({B, H, T, T});
                 Tensor dq = zeros({B, T, C}), dk = zeros({B, T, C}), dv = zeros({B, T, C});
                 k.attention(x, y, x, fmask, out, probs, att);
                 k.attention_backward(x, y, x, probs, y, dq, dk, dv, att);
                 return std::vector{out, probs, dq, dk, dv};
               }});
  v.push_back({"residual_dropout", [=, &k] {
                 Tensor out = zeros({B, T, C}), d = zeros({B, T, C}), dx = zeros({B, T, C});
                 k.residual_add(x, y, out);
                 k.dropout(out, d, DropoutArgs{0.1f, 42});
                 k.dropout_backward(y, dx, DropoutArgs{0.1f, 42});
                 return std::vector{out, d, dx};
               }});
  v.push_back({"cross_entropy", [=, &k] {
                 Tensor loss = zeros({1}), lse = zeros({B * T}), dl = zeros({B * T, V});
                 k.cross_entropy(logits, targets, loss, lse, {});
                 k.cross_entropy_backward(logits, targets, lse, 1.0f, dl, {});
                 return std::vector{loss, lse, dl};
               }});
  v.push_back({"pooling", [=, &k] {
                 Tensor m = zeros({B, C}), f = zeros({B, C}), dm = zeros({B, T, C}), df = zeros({B, T, C});
                 Tensor g = random_tensor({B, C}, 30);
                 k.mean_pool(x, fmask, m);
                 k.first_token_pool(x, f);
                 k.mean_pool_backward(g, fmask, dm);
                 k.first_token_pool_backward(g, df);
                 return std::vector{m, f, dm, df};
               }});
  v.push_back({"lora", [=, &k] {
                 Tensor x2 = x.reshape({B * T, C}), out = zeros({B * T, C}), xa = zeros({B * T, 8});
                 Tensor dx = zeros({B * T, C}), da = zeros({C, 8}), db = zeros({8, C});
                 k.lora(x2, la, lb, out, xa, LoraArgs{2.0f});
                 k.lora_backward(x2, la, lb, xa, y.reshape({B * T, C}), dx, da, db, LoraArgs{2.0f});
                 return std::vector{out, xa, dx, da, db};
               }});
  v.push_back({"optimizer", [=, &k] {
                 Tensor p = big.clone(), g = random_tensor(big.shape(), 31), m = zeros(big.shape()),
                        s = zeros(big.shape());
                 std::vector<Tensor> grads{g, wte.clone()};
                 const double norm = k.clip_grad_norm(grads, 0.5f);
                 for (int step = 1; step <= 3; ++step) k.adamw(p, grads[0], m, s, AdamWArgs{1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, step});
                 Tensor n = Tensor::from(std::vector<float>{float(norm)}, {1});
                 return std::vector{n, p, m, s, grads[0], grads[1]};
               }});
  return v;
}

bool same_bytes(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!bitwise_equal(a[i], b[i])) return false;
  return true;
}

class Determinism : public ::testing::TestWithParam<int> {};

TEST_P(Determinism, RepeatedRunsAreBitwiseIdentical) {
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(GetParam()));
  for (const Named& c : cases()) {
    auto first = c.run();
    for (int rep = 0; rep < 3; ++rep) EXPECT_TRUE(same_bytes(first, c.run())) << c.name << " repetition " << rep;
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, Determinism, ::testing::Values(1, 2));

}  // namespace
}  // namespace tandem::test
