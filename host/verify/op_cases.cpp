#include "verify/op_cases.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <sstream>

#include "ops/families.hpp"
#include "tandem/error.hpp"

namespace tandem::verify {
namespace {

using i64 = std::int64_t;
using Dims = std::vector<i64>;
using namespace op;  // the ops' cost functions and attention dims

// Unit roundoff of f32 (2⁻²⁴). Bounds below are written in multiples of it: a length-K fp32
// sum of terms of size <= 1 random-walks to ~u·sqrt(K) and is at worst ~u·K; blocked or
// pairwise sums (every backend uses them) stay near the first. Where an output accumulates
// into a gradient that starts in [-1, 1), the final f32 addition adds one more rounding.
constexpr double kU = 0x1p-24;

Tensor rnd(const Shape& s, std::uint64_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t = Tensor::empty(s);
  float* p = t.data<float>();
  for (i64 i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

Tensor ids(const Shape& s, std::uint64_t seed, std::int32_t lo, std::int32_t hi) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int32_t> dist(lo, hi);
  Tensor t = Tensor::empty(s, DType::I32);
  auto* p = t.data<std::int32_t>();
  for (i64 i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

// A (B, T) f32 key mask with a random number of trailing padding positions per row (the
// first position always real).
Tensor key_mask(i64 b, i64 t, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Tensor m = Tensor::empty({b, t});
  float* p = m.data<float>();
  for (i64 i = 0; i < b; ++i) {
    const i64 real = 1 + static_cast<i64>(rng() % static_cast<std::uint64_t>(t));
    for (i64 j = 0; j < t; ++j) p[i * t + j] = j < real ? 1.f : 0.f;
  }
  return m;
}

// Bound of a length-k dot product or sum of terms of size <= scale, computed in fp32.
Bound sum_bound(i64 k, double scale = 1.0) { return {1e-11, 1e-6 + 2 * kU * double(k) * scale, 1e-5}; }

using Adder = void (*)(std::vector<OpCase>&, const Dims&);

// ---- matmul (gemm) : M x K x N [x batch] ------------------------------------------------
void add_matmul(std::vector<OpCase>& out, const Dims& d) {
  const i64 m = d[0], k = d[1], n = d[2], batch = d.size() > 3 ? d[3] : 1;
  struct Form {
    bool ta, tb;
    float alpha, beta;
    bool shared;  // with a batch: b is one (K, N) weight for every entry, its gradient summed
  };
  // The three forms the models use: x·W (NN), x·Wᵀ (NT, BERT's Linear, attention scores),
  // xᵀ·dy (TN, weight gradients), and TT for completeness; alpha and beta exercised on some.
  for (const Form f : {Form{false, false, 1.f, 0.f, true}, Form{false, true, 2.f, 0.5f, false},
                       Form{true, false, -1.f, 1.f, false}, Form{true, false, 1.f, 0.f, true},
                       Form{true, true, 0.5f, 0.f, true}}) {
    if (batch == 1 && f.ta && !f.tb && f.shared) continue;  // the same case as the batched TN without a batch
    const bool shared = batch > 1 && f.shared;
    const Shape as = batch > 1 ? Shape{batch, f.ta ? k : m, f.ta ? m : k} : Shape{f.ta ? k : m, f.ta ? m : k};
    const Shape bs = batch > 1 && !shared ? Shape{batch, f.tb ? n : k, f.tb ? k : n} : Shape{f.tb ? n : k, f.tb ? k : n};
    const Shape os = batch > 1 ? Shape{batch, m, n} : Shape{m, n};
    const MatMulArgs args{f.ta, f.tb, f.alpha, f.beta};
    const std::string form = std::string(f.ta ? "T" : "N") + (f.tb ? "T" : "N");
    std::ostringstream label;
    label << "a " << as.str() << " b " << bs.str() << " " << form;
    if (f.alpha != 1 || f.beta != 0) label << " alpha=" << f.alpha << " beta=" << f.beta;
    const std::string shape = label.str();
    const double a_abs = std::abs(f.alpha);
    out.push_back({"matmul", "gemm", shape, matmul_cost(as, bs, args), [=] {
                     CaseData c;
                     c.inputs = {rnd(as, 1), rnd(bs, 2)};
                     c.outputs = {{"out", rnd(os, 3), sum_bound(k, a_abs)}};
                     c.run = [args](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                       o.matmul(in[0], in[1], res[0], args);
                     };
                     return c;
                   }});
    const i64 db_len = shared ? m * batch : m;
    out.push_back({"matmul_backward", "gemm", shape, matmul_backward_cost(as, bs, args, true, true), [=] {
                     CaseData c;
                     c.inputs = {rnd(as, 4), rnd(bs, 5), rnd(os, 6)};
                     c.outputs = {{"da", rnd(as, 7), sum_bound(n, a_abs)}, {"db", rnd(bs, 8), sum_bound(db_len, a_abs)}};
                     c.run = [args](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                       o.matmul_backward(in[0], in[1], in[2], res[0], res[1], args);
                     };
                     return c;
                   }});
  }
}

// ---- lora (gemm): N x Cin x R x Cout -----------------------------------------------------
void add_lora(std::vector<OpCase>& out, const Dims& d) {
  const i64 n = d[0], cin = d[1], r = d[2], cout = d[3];
  const LoraArgs args{.scale = 2.0f};
  const std::string shape = "x (" + std::to_string(n) + ", " + std::to_string(cin) + ") r=" + std::to_string(r) +
                            " out " + std::to_string(cout);
  // Two chained products: x·A over Cin terms, then (x·A)·B over r terms of size ~sqrt(Cin).
  const auto chained = [](i64 ko, i64 ki, double scale) {
    const double terms = double(ko) * std::sqrt(double(ki)) + std::sqrt(double(ko)) * double(ki);
    return Bound{1e-11, 1e-6 + 2 * kU * terms * scale, 1e-5};
  };
  out.push_back({"lora", "gemm", shape, lora_cost(n, cin, r, cout), [=] {
                   CaseData c;
                   c.inputs = {rnd({n, cin}, 11), rnd({cin, r}, 12), rnd({r, cout}, 13)};
                   c.outputs = {{"out", rnd({n, cout}, 14), chained(r, cin, 2.0)},
                                {"xa", Tensor::zeros({n, r}), sum_bound(cin)}};
                   c.run = [args](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.lora(in[0], in[1], in[2], res[0], res[1], args);
                   };
                   return c;
                 }});
  out.push_back({"lora_backward", "gemm", shape, lora_backward_cost(n, cin, r, cout, true), [=] {
                   CaseData c;
                   Tensor x = rnd({n, cin}, 15), a = rnd({cin, r}, 16);
                   Tensor xa = Tensor::zeros({n, r});
                   reference_kernels().matmul(x, a, xa, {});
                   c.inputs = {x, a, rnd({r, cout}, 17), xa, rnd({n, cout}, 18)};
                   c.outputs = {{"dx", rnd({n, cin}, 19), chained(r, cout, 2.0)},
                                {"da", rnd({cin, r}, 20), chained(n, cout, 2.0)},
                                {"db", rnd({r, cout}, 21), chained(n, cin, 2.0)}};
                   c.run = [args](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.lora_backward(in[0], in[1], in[2], in[3], in[4], res[0], res[1], res[2], args);
                   };
                   return c;
                 }});
}

// ---- bias: N x C --------------------------------------------------------------------------
void add_bias(std::vector<OpCase>& out, const Dims& d) {
  const i64 n = d[0], c = d[1];
  const std::string shape = Shape{n, c}.str();
  // One f32 addition: correctly rounded on every device.
  out.push_back({"bias_add", "bias", shape, bias_add_cost({n, c}), [=] {
                   CaseData k;
                   k.inputs = {rnd({n, c}, 31), rnd({c}, 32)};
                   k.outputs = {{"out", Tensor::zeros({n, c}), {1e-14, 0, kU}}};
                   k.run = [](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.bias_add(in[0], in[1], res[0]);
                   };
                   return k;
                 }});
  out.push_back({"bias_backward", "bias", shape, bias_backward_cost({n, c}), [=] {
                   CaseData k;
                   k.inputs = {rnd({n, c}, 33)};
                   k.outputs = {{"dbias", rnd({c}, 34), sum_bound(n)}};
                   k.run = [](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.bias_backward(in[0], res[0]);
                   };
                   return k;
                 }});
}

// ---- layernorm: N x C ---------------------------------------------------------------------
void add_layernorm(std::vector<OpCase>& out, const Dims& d) {
  const i64 n = d[0], c = d[1];
  const std::string shape = Shape{n, c}.str();
  constexpr float eps = 1e-5f;
  // Inputs in [-3, 3] on an offset of 2, so the mean is not ~0 and cancellation is exercised.
  // out: normalised values of size ~3 from C-term mean and variance sums; mean and rstd are
  // those sums themselves.
  out.push_back({"layernorm", "layernorm", shape, layernorm_cost({n, c}), [=] {
                   CaseData k;
                   k.inputs = {rnd({n, c}, 41, -1.f, 5.f), rnd({c}, 42), rnd({c}, 43)};
                   k.outputs = {{"out", Tensor::zeros({n, c}), {1e-11, 1e-6 + 8 * kU * std::sqrt(double(c)), 1e-5}},
                                {"mean", Tensor::zeros({n}), {1e-11, 2e-6, 1e-6}},
                                {"rstd", Tensor::zeros({n}), {1e-11, 0, 1e-5}}};
                   k.run = [](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.layernorm(in[0], in[1], in[2], eps, res[0], res[1], res[2]);
                   };
                   return k;
                 }});
  out.push_back({"layernorm_backward", "layernorm", shape, layernorm_backward_cost({n, c}, true, true), [=] {
                   CaseData k;
                   Tensor x = rnd({n, c}, 44, -1.f, 5.f), w = rnd({c}, 45), b = rnd({c}, 46);
                   Tensor y = Tensor::zeros({n, c}), mean = Tensor::zeros({n}), rstd = Tensor::zeros({n});
                   reference_kernels().layernorm(x, w, b, eps, y, mean, rstd);
                   k.inputs = {rnd({n, c}, 47), x, w, mean, rstd};
                   // dx: C-term sums of terms ~|dout·w·x̂| <= 3 times rstd (~0.6); dweight, dbias: N-term sums.
                   k.outputs = {{"dx", rnd({n, c}, 48), sum_bound(c, 3.0)},
                                {"dweight", rnd({c}, 49), sum_bound(n, 3.0)},
                                {"dbias", rnd({c}, 50), sum_bound(n)}};
                   k.run = [](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.layernorm_backward(in[0], in[1], in[2], in[3], in[4], res[0], res[1], res[2]);
                   };
                   return k;
                 }});
}

// ---- gelu: N ------------------------------------------------------------------------------
void add_gelu(std::vector<OpCase>& out, const Dims& d) {
  const i64 n = d[0];
  for (const GeluKind kind : {GeluKind::Tanh, GeluKind::Erf}) {
    const std::string shape = Shape{n}.str() + (kind == GeluKind::Tanh ? " tanh" : " erf");
    // tanh and erf in f32 (OpenCL allows 5 and 16 ulp) inherit the absolute error of their
    // argument (|x| up to 6 here): relative 1.5e-5 covers both; backward terms cancel near
    // gelu'(x) = 0, hence an absolute part.
    out.push_back({"gelu", "gelu", shape, gelu_cost({n}, kind), [=] {
                     CaseData k;
                     k.inputs = {rnd({n}, 51, -6.f, 6.f)};
                     k.outputs = {{"out", Tensor::zeros({n}), {1e-12, 1e-30, 1.5e-5}}};
                     k.run = [kind](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                       o.gelu(in[0], res[0], kind);
                     };
                     return k;
                   }});
    out.push_back({"gelu_backward", "gelu", shape, gelu_backward_cost({n}, kind), [=] {
                     CaseData k;
                     k.inputs = {rnd({n}, 52, -6.f, 6.f), rnd({n}, 53)};
                     k.outputs = {{"dx", rnd({n}, 54), {1e-12, 2.5e-7, 1.5e-5}}};
                     k.run = [kind](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                       o.gelu_backward(in[0], in[1], res[0], kind);
                     };
                     return k;
                   }});
  }
}

// ---- softmax: N x C -----------------------------------------------------------------------
void add_softmax(std::vector<OpCase>& out, const Dims& d) {
  const i64 n = d[0], c = d[1];
  const std::string shape = Shape{n, c}.str();
  // Probabilities: exp to a few ulp, normalised by a C-term sum; inputs in [-8, 8].
  out.push_back({"softmax", "softmax", shape, OpCost{5.0 * double(n * c), 8.0 * double(n * c)}, [=] {
                   CaseData k;
                   k.inputs = {rnd({n, c}, 61, -8.f, 8.f)};
                   k.outputs = {{"out", Tensor::zeros({n, c}), {1e-12, 3e-7, 1e-5}}};
                   k.run = [](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.softmax(in[0], res[0]);
                   };
                   return k;
                 }});
  out.push_back({"softmax_backward", "softmax", shape, OpCost{4.0 * double(n * c), 16.0 * double(n * c)}, [=] {
                   CaseData k;
                   Tensor y = Tensor::zeros({n, c});
                   reference_kernels().softmax(rnd({n, c}, 62, -8.f, 8.f), y);
                   k.inputs = {y, rnd({n, c}, 63)};
                   k.outputs = {{"dx", rnd({n, c}, 64), sum_bound(c)}};
                   k.run = [](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.softmax_backward(in[0], in[1], res[0]);
                   };
                   return k;
                 }});
}

// ---- attention: B x T x C x H -------------------------------------------------------------
void add_attention(std::vector<OpCase>& out, const Dims& d) {
  const i64 b = d[0], t = d[1], c = d[2], h = d[3];
  for (const bool causal : {true, false}) {
    const AttentionArgs args{static_cast<int>(h), causal, 0.0f};
    const bool masked = !causal;  // BERT: bidirectional with padding
    const std::string shape = "q " + Shape{b, t, c}.str() + " heads " + std::to_string(h) + (causal ? " causal" : " masked");
    const AttentionDims dims{b, t, t, c, h};
    // Scores are D-term dot products; probs and out are convex combinations (errors stay at
    // the probs level); gradients sum S, T or D terms of size <= ~1.
    const Bound grad{1e-11, 1e-7 + 2e-8 * double(2 * t + c / h), 1e-5};
    out.push_back({"attention", "attention", shape, attention_cost(dims, causal, masked), [=] {
                     CaseData k;
                     k.inputs = {rnd({b, t, c}, 71), rnd({b, t, c}, 72), rnd({b, t, c}, 73),
                                 masked ? key_mask(b, t, 74) : Tensor()};
                     k.outputs = {{"out", Tensor::zeros({b, t, c}), {1e-12, 5e-7, 1e-5}},
                                  {"probs", Tensor::zeros({b, h, t, t}), {1e-12, 3e-7, 1e-5}}};
                     k.run = [args](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                       o.attention(in[0], in[1], in[2], in[3], res[0], res[1], args);
                     };
                     return k;
                   }});
    out.push_back({"attention_backward", "attention", shape, attention_backward_cost(dims, causal), [=] {
                     CaseData k;
                     Tensor q = rnd({b, t, c}, 75), kk = rnd({b, t, c}, 76), v = rnd({b, t, c}, 77);
                     Tensor o = Tensor::zeros({b, t, c}), probs = Tensor::zeros({b, h, t, t});
                     reference_kernels().attention(q, kk, v, masked ? key_mask(b, t, 74) : Tensor(), o, probs, args);
                     k.inputs = {q, kk, v, probs, rnd({b, t, c}, 78)};
                     k.outputs = {{"dq", rnd({b, t, c}, 79), grad}, {"dk", rnd({b, t, c}, 80), grad},
                                  {"dv", rnd({b, t, c}, 81), grad}};
                     k.run = [args](OpKernels& ops, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                       ops.attention_backward(in[0], in[1], in[2], in[3], in[4], res[0], res[1], res[2], args);
                     };
                     return k;
                   }});
  }
}

// ---- residual: N --------------------------------------------------------------------------
void add_residual(std::vector<OpCase>& out, const Dims& d) {
  const i64 n = d[0];
  const std::string shape = Shape{n}.str();
  // One correctly rounded addition per element.
  out.push_back({"residual_add", "residual", shape, residual_add_cost({n}), [=] {
                   CaseData k;
                   k.inputs = {rnd({n}, 91), rnd({n}, 92)};
                   k.outputs = {{"out", Tensor::zeros({n}), {1e-14, 0, kU}}};
                   k.run = [](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.residual_add(in[0], in[1], res[0]);
                   };
                   return k;
                 }});
  out.push_back({"residual_add_backward", "residual", shape, OpCost{2.0 * double(n), 20.0 * double(n)}, [=] {
                   CaseData k;
                   k.inputs = {rnd({n}, 93)};
                   k.outputs = {{"da", rnd({n}, 94), {1e-14, 0, kU}}, {"db", rnd({n}, 95), {1e-14, 0, kU}}};
                   k.run = [](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.residual_add_backward(in[0], res[0], res[1]);
                   };
                   return k;
                 }});
}

// ---- dropout: N ---------------------------------------------------------------------------
void add_dropout(std::vector<OpCase>& out, const Dims& d) {
  const i64 n = d[0];
  const DropoutArgs args{0.25f, 1234};
  const std::string shape = Shape{n}.str() + " p=0.25";
  // The mask is a pure function of (seed, index): dropped elements must be exactly 0
  // everywhere (atol 0); kept ones differ by the rounding of the 1/(1−p) scale.
  out.push_back({"dropout", "dropout", shape, dropout_cost({n}), [=] {
                   CaseData k;
                   k.inputs = {rnd({n}, 101)};
                   k.outputs = {{"out", Tensor::zeros({n}), {1e-14, 0, 2 * kU}}};
                   k.run = [args](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.dropout(in[0], res[0], args);
                   };
                   return k;
                 }});
  out.push_back({"dropout_backward", "dropout", shape, dropout_backward_cost({n}), [=] {
                   CaseData k;
                   k.inputs = {rnd({n}, 102)};
                   k.outputs = {{"dx", rnd({n}, 103), {1e-12, 8 * kU, 2 * kU}}};
                   k.run = [args](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.dropout_backward(in[0], res[0], args);
                   };
                   return k;
                 }});
}

// ---- cross_entropy: N x V -----------------------------------------------------------------
void add_cross_entropy(std::vector<OpCase>& out, const Dims& d) {
  const i64 n = d[0], v = d[1];
  const std::string shape = "logits " + Shape{n, v}.str();
  // Every 5th row ignored (-100). lse = log of a V-term sum of exps: a relative error of the
  // sum becomes an absolute error of lse; |lse| <= ~15 adds one f32 ulp (1e-6).
  const auto targets = [n, v] {
    Tensor t = ids({n}, 111, 0, static_cast<std::int32_t>(v - 1));
    for (i64 i = 0; i < n; i += 5) t.data<std::int32_t>()[i] = -100;
    return t;
  };
  const Bound lse{1e-12, 2e-6 + 2 * kU * std::sqrt(double(v)), 1e-6};
  out.push_back({"cross_entropy", "cross_entropy", shape, cross_entropy_cost(n, v), [=] {
                   CaseData k;
                   k.inputs = {rnd({n, v}, 112, -4.f, 4.f), targets()};
                   k.outputs = {{"loss", Tensor::zeros({1}), lse}, {"lse", Tensor::zeros({n}), lse}};
                   k.run = [](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.cross_entropy(in[0], in[1], res[0], res[1], {});
                   };
                   return k;
                 }});
  out.push_back({"cross_entropy_backward", "cross_entropy", shape, cross_entropy_backward_cost(n, v), [=] {
                   CaseData k;
                   Tensor logits = rnd({n, v}, 113, -4.f, 4.f), tg = targets();
                   Tensor loss = Tensor::zeros({1}), lse_t = Tensor::zeros({n});
                   reference_kernels().cross_entropy(logits, tg, loss, lse_t, {});
                   k.inputs = {logits, tg, lse_t};
                   // softmax − onehot from exp(x − lse): the lse error is relative in the result;
                   // plus the f32 addition into the random initial gradient.
                   k.outputs = {{"dlogits", rnd({n, v}, 114), {1e-11, 2 * kU, 5e-6}}};
                   k.run = [](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.cross_entropy_backward(in[0], in[1], in[2], 1.5f, res[0], {});
                   };
                   return k;
                 }});
}

// ---- embedding: B x T x C x V -------------------------------------------------------------
void add_embedding(std::vector<OpCase>& out, const Dims& d) {
  const i64 b = d[0], t = d[1], c = d[2], v = d[3];
  const std::string shape = "ids " + Shape{b, t}.str() + " wte " + Shape{v, c}.str();
  // Forward: a copy plus one correctly rounded addition, exact everywhere. Backward: each
  // element sums its rows' contributions (at most B·T of size <= 1) into a gradient in [-1, 1).
  out.push_back({"embedding", "embedding", shape, embedding_cost({b, t}, c, true), [=] {
                   CaseData k;
                   k.inputs = {ids({b, t}, 121, 0, static_cast<std::int32_t>(v - 1)), rnd({v, c}, 122), rnd({t, c}, 123)};
                   k.outputs = {{"out", Tensor::zeros({b, t, c}), {0, 0, kU}}};
                   k.run = [](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.embedding(in[0], in[1], in[2], res[0]);
                   };
                   return k;
                 }});
  out.push_back({"embedding_backward", "embedding", shape, embedding_backward_cost({b, t}, c, true), [=] {
                   CaseData k;
                   // A small id range so that rows collide, as frequent tokens do.
                   k.inputs = {ids({b, t}, 124, 0, static_cast<std::int32_t>(std::min<i64>(v - 1, 7))), rnd({b, t, c}, 125)};
                   k.outputs = {{"dwte", rnd({v, c}, 126), sum_bound(b * t)}, {"dwpe", rnd({t, c}, 127), sum_bound(b)}};
                   k.run = [](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.embedding_backward(in[0], in[1], res[0], res[1]);
                   };
                   return k;
                 }});
}

// ---- pooling: B x T x C -------------------------------------------------------------------
void add_pooling(std::vector<OpCase>& out, const Dims& d) {
  const i64 b = d[0], t = d[1], c = d[2];
  const std::string shape = "x " + Shape{b, t, c}.str();
  out.push_back({"mean_pool", "pooling", shape + " masked", mean_pool_cost({b, t, c}, true), [=] {
                   CaseData k;
                   k.inputs = {rnd({b, t, c}, 131), key_mask(b, t, 132)};
                   k.outputs = {{"out", Tensor::zeros({b, c}), sum_bound(t)}};
                   k.run = [](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.mean_pool(in[0], in[1], res[0]);
                   };
                   return k;
                 }});
  out.push_back({"mean_pool_backward", "pooling", shape + " masked", mean_pool_backward_cost({b, t, c}, true), [=] {
                   CaseData k;
                   k.inputs = {rnd({b, c}, 133), key_mask(b, t, 134)};
                   k.outputs = {{"dx", rnd({b, t, c}, 135), {1e-14, 2 * kU, 2 * kU}}};
                   k.run = [](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.mean_pool_backward(in[0], in[1], res[0]);
                   };
                   return k;
                 }});
  out.push_back({"first_token_pool", "pooling", shape, first_token_pool_cost({b, t, c}), [=] {
                   CaseData k;
                   k.inputs = {rnd({b, t, c}, 136)};
                   k.outputs = {{"out", Tensor::zeros({b, c}), {0, 0, 0}}};
                   k.run = [](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.first_token_pool(in[0], res[0]);
                   };
                   return k;
                 }});
  out.push_back({"first_token_pool_backward", "pooling", shape, first_token_pool_backward_cost({b, t, c}), [=] {
                   CaseData k;
                   k.inputs = {rnd({b, c}, 137)};
                   k.outputs = {{"dx", rnd({b, t, c}, 138), {1e-14, 0, kU}}};
                   k.run = [](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.first_token_pool_backward(in[0], res[0]);
                   };
                   return k;
                 }});
}

// ---- optimizer: N -------------------------------------------------------------------------
void add_optimizer(std::vector<OpCase>& out, const Dims& d) {
  const i64 n = d[0];
  const i64 n2 = n / 3 + 1;  // a second, differently sized tensor in the gradient list
  const std::string shape = Shape{n}.str();
  const AdamWArgs args{.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.1f, .step = 3};
  // One step of element-wise arithmetic with a sqrt and a division.
  out.push_back({"adamw", "optimizer", shape + " step 3", adamw_cost(n), [=] {
                   CaseData k;
                   k.inputs = {rnd({n}, 141)};
                   k.outputs = {{"param", rnd({n}, 142), {1e-12, 1e-8, 1e-6}},
                                {"m", rnd({n}, 143, -0.1f, 0.1f), {1e-12, 1e-7, 1e-6}},
                                {"v", rnd({n}, 144, 0.f, 0.01f), {1e-12, 1e-30, 1e-6}}};
                   k.run = [args](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     o.adamw(res[0], in[0], res[1], res[2], args);
                   };
                   return k;
                 }});
  // The norm of the whole gradient list: an (n + n2)-term sum of squares.
  out.push_back({"grad_norm", "optimizer", shape + " + " + Shape{n2}.str(), grad_norm_cost(n + n2), [=] {
                   CaseData k;
                   k.inputs = {rnd({n}, 145), rnd({n2}, 146)};
                   k.outputs = {{"norm", Tensor::zeros({1}), {1e-12, 0, 1e-6}}};
                   k.run = [](OpKernels& o, const std::vector<Tensor>& in, std::vector<Tensor>& res) {
                     res[0].data<float>()[0] = static_cast<float>(o.grad_norm(in));
                   };
                   return k;
                 }});
  // Clipping to a norm below the current one scales every element by one factor.
  out.push_back({"clip_grad_norm", "optimizer", shape + " + " + Shape{n2}.str(), clip_grad_norm_cost(n + n2), [=] {
                   CaseData k;
                   k.outputs = {{"g0", rnd({n}, 147), {1e-12, 0, 2e-6}}, {"g1", rnd({n2}, 148), {1e-12, 0, 2e-6}}};
                   k.run = [](OpKernels& o, const std::vector<Tensor>&, std::vector<Tensor>& res) {
                     o.clip_grad_norm(res, 0.5f);
                   };
                   return k;
                 }});
}

struct Group {
  const char* name;
  const char* family;
  const char* sizes;  // what --shapes means
  Adder add;
  std::vector<Dims> defaults;
};

const std::vector<Group>& groups() {
  static const std::vector<Group> g = {
      {"matmul", "gemm", "M x K x N [x batch]", add_matmul, {{13, 17, 19}, {7, 33, 5, 3}, {128, 768, 256}}},
      {"lora", "gemm", "N x Cin x rank x Cout", add_lora, {{37, 24, 4, 40}, {512, 768, 8, 768}}},
      {"bias", "bias", "N x C", add_bias, {{37, 53}, {1024, 768}}},
      {"layernorm", "layernorm", "N x C", add_layernorm, {{37, 53}, {1024, 768}}},
      {"gelu", "gelu", "N", add_gelu, {{1031}, {1024 * 3072}}},
      {"softmax", "softmax", "N x C", add_softmax, {{37, 53}, {64, 1031}}},
      {"attention", "attention", "B x T x C x heads", add_attention, {{2, 17, 24, 3}, {1, 128, 768, 12}}},
      {"residual", "residual", "N", add_residual, {{1031}, {1024 * 768}}},
      {"dropout", "dropout", "N", add_dropout, {{1031}, {1024 * 768}}},
      {"cross_entropy", "cross_entropy", "N x V", add_cross_entropy, {{37, 53}, {16, 50257}}},
      {"embedding", "embedding", "B x T x C x V", add_embedding, {{2, 5, 7, 11}, {4, 256, 768, 1000}}},
      {"pooling", "pooling", "B x T x C", add_pooling, {{3, 7, 13}, {16, 128, 768}}},
      {"optimizer", "optimizer", "N", add_optimizer, {{1031}, {1 << 20}}},
  };
  return g;
}

std::size_t arity(const Group& g) { return static_cast<std::size_t>(std::count(g.sizes, g.sizes + std::char_traits<char>::length(g.sizes), 'x')) + 1; }

}  // namespace

std::vector<OpCase> default_cases() {
  std::vector<OpCase> out;
  for (const Group& g : groups())
    for (const Dims& d : g.defaults) g.add(out, d);
  return out;
}

std::vector<OpCase> cases_for(const std::string& name, const std::vector<Dims>& shapes) {
  std::vector<OpCase> out;
  bool known = false;
  for (const Group& g : groups()) {
    std::vector<OpCase> mine;
    for (const Dims& d : shapes.empty() ? g.defaults : shapes) {
      if (!shapes.empty()) {
        const bool optional_batch = std::string_view(g.sizes).find('[') != std::string_view::npos;
        if (d.size() != arity(g) && !(optional_batch && d.size() == arity(g) - 1)) continue;
      }
      g.add(mine, d);
    }
    for (OpCase& c : mine) {
      if (name != g.name && name != g.family && name != c.op) continue;
      known = true;
      out.push_back(std::move(c));
    }
    if (!known && (name == g.name || name == g.family)) known = true;
  }
  if (!known) throw Error("kernels test: unknown kernel '" + name + "' (see `tandem kernels list`)");
  if (out.empty())
    throw Error("kernels test: --shapes does not fit '" + name + "'; its sizes are: " + shape_help());
  return out;
}

std::string shape_help() {
  std::ostringstream s;
  for (const Group& g : groups()) s << "\n  " << g.name << " (" << g.family << ".cl): " << g.sizes;
  return s.str();
}

std::vector<Dims> parse_shapes(const std::string& spec) {
  std::vector<Dims> out;
  std::stringstream ss(spec);
  std::string part;
  while (std::getline(ss, part, ',')) {
    Dims d;
    std::stringstream ps(part);
    std::string num;
    while (std::getline(ps, num, 'x')) {
      i64 v = 0;
      const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
      if (ec != std::errc() || end != num.data() + num.size() || v <= 0)
        throw Error("--shapes: '" + part + "' is not a list of positive sizes like 64x48x80");
      d.push_back(v);
    }
    if (d.empty()) throw Error("--shapes: empty shape in '" + spec + "'");
    out.push_back(d);
  }
  if (out.empty()) throw Error("--shapes: no shape given");
  return out;
}

namespace {

// Outputs placed between guard zones of a sentinel pattern, so writes past either end of
// an output buffer are caught.
class GuardedOutputs {
 public:
  explicit GuardedOutputs(const std::vector<CaseData::Output>& outputs) {
    for (const CaseData::Output& o : outputs) {
      const i64 n = o.initial.numel();
      Tensor whole = Tensor::empty(Shape{n + 2 * kGuard});
      std::fill_n(whole.data<float>(), n + 2 * kGuard, kSentinel);
      Tensor view = whole.narrow(0, kGuard, n).reshape(o.initial.shape());
      view.copy_from(o.initial);
      wholes_.push_back(whole);
      views_.push_back(view);
    }
  }
  std::vector<Tensor>& views() { return views_; }
  // The name of the first output whose guards were overwritten, or empty.
  [[nodiscard]] std::string broken_guard(const std::vector<CaseData::Output>& outputs) const {
    for (std::size_t i = 0; i < wholes_.size(); ++i) {
      const float* p = wholes_[i].data<float>();
      const i64 n = wholes_[i].numel();
      for (i64 j = 0; j < kGuard; ++j)
        if (!same_bits(p[j]) || !same_bits(p[n - 1 - j])) return outputs[i].name;
    }
    return {};
  }

 private:
  static constexpr i64 kGuard = 64;
  static constexpr float kSentinel = -12345.678f;
  static bool same_bits(float x) { return std::memcmp(&x, &kSentinel, sizeof x) == 0; }
  std::vector<Tensor> wholes_, views_;
};

std::vector<Tensor> fresh_outputs(const std::vector<CaseData::Output>& outputs) {
  std::vector<Tensor> out;
  for (const CaseData::Output& o : outputs) out.push_back(o.initial.clone());
  return out;
}

// Compares one output; returns the failure text or empty, and updates the worst figures.
std::string compare(const CaseData::Output& o, const Tensor& got, const Tensor& ref, CaseResult& r) {
  const float* g = got.data<float>();
  const float* w = ref.data<float>();
  double err2 = 0, ref2 = 0;
  i64 bad = -1;
  for (i64 i = 0; i < got.numel(); ++i) {
    if (!std::isfinite(g[i])) return o.name + ": non-finite value " + std::to_string(g[i]) + " at " + std::to_string(i);
    const double diff = std::abs(double(g[i]) - double(w[i]));
    err2 += diff * diff;
    ref2 += double(w[i]) * double(w[i]);
    r.max_abs_err = std::max(r.max_abs_err, diff);
    if (bad < 0 && diff > o.bound.atol + o.bound.rtol * std::abs(double(w[i]))) bad = i;
  }
  const double nmse = ref2 > 0 ? err2 / ref2 : err2;
  r.nmse = std::max(r.nmse, nmse);
  std::ostringstream s;
  if (bad >= 0)
    s << o.name << "[" << bad << "] = " << g[bad] << ", reference " << w[bad] << ": beyond atol " << o.bound.atol
      << " + rtol " << o.bound.rtol << "·|ref|";
  else if (nmse > o.bound.nmse)
    s << o.name << ": NMSE " << nmse << " above " << o.bound.nmse;
  return s.str();
}

}  // namespace

CaseResult run_case(const OpCase& c, OpKernels& device, int repeats) {
  CaseResult r;
  r.op = c.op;
  r.family = c.family;
  r.shape = c.shape;
  r.cost = c.cost;
  CaseData data = c.make();
  try {
    // Warm-up (program builds, first-launch compilation) and timed calls on scratch outputs.
    std::vector<double> times;
    for (int i = 0; i <= repeats; ++i) {
      std::vector<Tensor> scratch = fresh_outputs(data.outputs);
      const auto t0 = std::chrono::steady_clock::now();
      data.run(device, data.inputs, scratch);
      const auto t1 = std::chrono::steady_clock::now();
      if (i > 0) times.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    if (!times.empty()) {
      std::sort(times.begin(), times.end());
      r.ms = times[times.size() / 2];
    }
    GuardedOutputs got(data.outputs);
    data.run(device, data.inputs, got.views());
    std::vector<Tensor> want = fresh_outputs(data.outputs);
    data.run(reference_kernels(), data.inputs, want);
    if (const std::string broken = got.broken_guard(data.outputs); !broken.empty()) {
      r.failure = broken + ": guard bytes around the output were overwritten";
      return r;
    }
    for (std::size_t i = 0; i < data.outputs.size() && r.failure.empty(); ++i)
      r.failure = compare(data.outputs[i], got.views()[i], want[i], r);
  } catch (const Error& e) {
    r.failure = e.what();
  }
  r.pass = r.failure.empty();
  return r;
}

}  // namespace tandem::verify
