// LoRA on the tiny fixture models (tests/fixtures/models, from make_reference.py) and the PEFT
// adapter written by the real peft library (tests/fixtures/lora, from make_lora_fixtures.py).
//
// Independent sources of the expected values:
// - the base models' own outputs and weight gradients (checked against PyTorch by test_models);
// - the chain rule: with W_eff = W + s·A·B, dL/dA = s·dL/dW_eff·Bᵀ and dL/dB = s·Aᵀ·dL/dW_eff,
//   where dL/dW_eff is the base weight gradient of the merged model;
// - central finite differences of the loss (reference backend);
// - PeftModel's logits (PyTorch, peft 0.21.2).
// Bounds are stated at each check, in units of max |reference|, with what was measured.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../models/model_fixtures.hpp"
#include "backends/cpu/cpu_kernels.hpp"
#include "graph/recorder.hpp"
#include "io/safetensors.hpp"
#include "models/layers.hpp"
#include "models/model.hpp"
#include "ops/op_kernels.hpp"
#include "sched/session.hpp"
#include "tandem/error.hpp"
#include "train/lora.hpp"

namespace tandem::testing {
namespace {

using models::Linear;
using models::LoraAdapter;
using models::Model;
using models::Parameter;
using train::LoraConfig;

std::unique_ptr<Model> load(std::string_view name) { return models::load_model(fixture_dir(name)); }

data::Batch batch_of(std::string_view name) {
  const io::SafetensorsReader ref(fixture_dir(name) / "reference.safetensors");
  return reference_batch(ref);
}

LoraConfig config_for(const Model& model, std::int64_t rank = 4, float alpha = 8.0f, float dropout = 0.0f) {
  return {.rank = rank, .alpha = alpha, .dropout = dropout, .targets = train::default_lora_targets(model.config())};
}

std::vector<LoraAdapter*> adapters(Model& model) {
  std::vector<LoraAdapter*> out;
  for (Linear* l : model.linears())
    if (LoraAdapter* a = l->lora()) out.push_back(a);
  return out;
}

// Deterministic values in [-scale, scale), independent of the library's generator.
void fill_pseudo_random(Tensor& t, std::uint32_t seed, float scale) {
  std::uint32_t s = seed * 2654435761u + 1u;
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    s = s * 1664525u + 1013904223u;
    p[i] = (static_cast<float>(s >> 8) / 16777216.0f * 2.0f - 1.0f) * scale;
  }
}

void randomize_b(Model& model, float scale) {
  std::uint32_t seed = 7;
  for (LoraAdapter* a : adapters(model)) fill_pseudo_random(a->b.value, seed++, scale);
}

Tensor logits_of(Model& model, data::Batch batch, OpKernels& ops) {
  batch.targets = Tensor();
  batch.labels = Tensor();
  model.forward(batch, ops);
  return model.logits().clone();
}

void forward_backward(Model& model, const data::Batch& batch, OpKernels& ops) {
  model.zero_grad();
  model.forward(batch, ops);
  model.backward(ops);
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (std::int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(double(t.data<float>()[i])));
  return m;
}

bool all_zero(const Tensor& t) {
  return std::all_of(t.data<float>(), t.data<float>() + t.numel(), [](float v) { return v == 0.0f; });
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::equal(a.data<float>(), a.data<float>() + a.numel(), b.data<float>(), b.data<float>() + b.numel());
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(LoraApply, Gpt2AddsAdaptersInPeftNamesAndFreezesTheBase) {
  auto model = load("gpt2-tiny");
  const std::size_t base_count = model->parameters().size();
  // 2 layers × (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj): "c_proj" matches both.
  ASSERT_EQ(train::apply_lora(*model, config_for(*model), 42), 8u);
  ASSERT_EQ(model->parameters().size(), base_count + 16);
  for (std::size_t i = 0; i < base_count; ++i) EXPECT_FALSE(model->parameters()[i].trainable) << model->parameters()[i].name;
  const Parameter& a = model->parameters()[base_count];
  const Parameter& b = model->parameters()[base_count + 1];
  EXPECT_EQ(a.name, "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight");
  EXPECT_EQ(b.name, "base_model.model.transformer.h.0.attn.c_attn.lora_B.weight");
  EXPECT_EQ(a.value.shape(), (Shape{64, 4}));
  EXPECT_EQ(b.value.shape(), (Shape{4, 192}));
  EXPECT_TRUE(a.trainable && b.trainable);
  EXPECT_FALSE(a.decay || b.decay);
  EXPECT_EQ(model->parameters().back().name, "base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight");
  EXPECT_EQ(model->parameters()[base_count + 14].value.shape(), (Shape{256, 4}));  // mlp.c_proj A: in = 4·64
  // A is uniform in ±1/sqrt(in) (kaiming-uniform, a = sqrt(5)); B starts at zero.
  for (LoraAdapter* ad : adapters(*model)) {
    const double bound = 1.0 / std::sqrt(double(ad->a.value.dim(0)));
    EXPECT_LE(max_abs(ad->a.value), bound);
    EXPECT_GT(max_abs(ad->a.value), 0.8 * bound);  // 256+ draws: the largest is near the bound
    EXPECT_TRUE(all_zero(ad->b.value));
    EXPECT_FLOAT_EQ(ad->scale, 2.0f);
  }
}

TEST(LoraApply, BertTargetsQueryKeyValueAndDense) {
  auto model = load("bert-tiny-cls");
  // Per layer query, key, value, attention.output.dense, intermediate.dense, output.dense; plus
  // pooler.dense. The classifier is not a target.
  EXPECT_EQ(train::apply_lora(*model, config_for(*model), 1), 2u * 6u + 1u);
  EXPECT_NE(std::find_if(model->parameters().begin(), model->parameters().end(),
                         [](const Parameter& p) {
                           return p.name == "base_model.model.bert.encoder.layer.1.attention.self.value.lora_B.weight";
                         }),
            model->parameters().end());
}

TEST(LoraApply, SeedDeterminesA) {
  auto m1 = load("gpt2-tiny"), m2 = load("gpt2-tiny"), m3 = load("gpt2-tiny");
  train::apply_lora(*m1, config_for(*m1), 5);
  train::apply_lora(*m2, config_for(*m2), 5);
  train::apply_lora(*m3, config_for(*m3), 6);
  EXPECT_TRUE(bitwise_equal(adapters(*m1)[3]->a.value, adapters(*m2)[3]->a.value));
  EXPECT_FALSE(bitwise_equal(adapters(*m1)[3]->a.value, adapters(*m3)[3]->a.value));
  EXPECT_FALSE(bitwise_equal(adapters(*m1)[0]->a.value.narrow(0, 0, 4), adapters(*m1)[1]->a.value.narrow(0, 0, 4).contiguous()));
}

TEST(LoraApply, BadConfigsAreErrors) {
  auto model = load("gpt2-tiny");
  LoraConfig c = config_for(*model);
  c.targets = {"c_attn", "query"};
  EXPECT_THROW(train::apply_lora(*model, c, 0), Error);
  c = config_for(*model, 0);
  EXPECT_THROW(train::apply_lora(*model, c, 0), Error);
  c = config_for(*model, 4, 8.0f, 1.0f);
  EXPECT_THROW(train::apply_lora(*model, c, 0), Error);
  c = config_for(*model);
  c.targets.clear();
  EXPECT_THROW(train::apply_lora(*model, c, 0), Error);
  EXPECT_TRUE(model->parameters()[0].trainable) << "a rejected config must leave the model alone";
  train::apply_lora(*model, config_for(*model), 0);
  EXPECT_THROW(train::apply_lora(*model, config_for(*model), 0), Error);
}

TEST(Lora, ZeroBLeavesTheLogitsBitwiseUnchanged) {
  auto base = load("gpt2-tiny"), adapted = load("gpt2-tiny");
  train::apply_lora(*adapted, config_for(*adapted), 3);
  const data::Batch batch = batch_of("gpt2-tiny");
  EXPECT_TRUE(bitwise_equal(logits_of(*base, batch, cpu_kernels()), logits_of(*adapted, batch, cpu_kernels())));
}

// Base + adapter against the merged model on GPT-2 (Conv1D, W (in, out)) and BERT (nn.Linear,
// W (out, in)). They differ only by f32 rounding of x·(W + sAB) against x·W + s(xA)B.
// Bound: 1e-5 · max |logits|; measured 8.1e-7 (GPT-2) and 7.3e-7 (BERT). The adapter itself
// moves the logits by more than 1e-2 · max |logits|.
void check_merge(std::string_view name) {
  auto base = load(name), adapted = load(name);
  train::apply_lora(*adapted, config_for(*adapted), 11);
  randomize_b(*adapted, 0.5f);
  const data::Batch batch = batch_of(name);
  const Tensor with_adapter = logits_of(*adapted, batch, cpu_kernels());
  const Tensor base_logits = logits_of(*base, batch, cpu_kernels());
  auto merged = train::merge_lora(*adapted);
  EXPECT_FALSE(train::has_lora(*merged));
  ASSERT_EQ(merged->parameters().size(), base->parameters().size());
  for (std::size_t i = 0; i < merged->parameters().size(); ++i) {
    EXPECT_EQ(merged->parameters()[i].name, base->parameters()[i].name);
    EXPECT_TRUE(merged->parameters()[i].trainable);
  }
  const Tensor merged_logits = logits_of(*merged, batch, cpu_kernels());
  const Diff d = compare(merged_logits, with_adapter);
  std::printf("%s merged vs adapter: max |diff| %.3g, relative %.3g\n", std::string(name).c_str(), d.max_abs, d.relative());
  EXPECT_LE(d.max_abs, 1e-5 * d.ref_scale);
  EXPECT_GT(compare(base_logits, with_adapter).max_abs, 1e-2 * d.ref_scale) << "the adapter should change the logits";

  // save_model writes a plain Hugging Face checkpoint that loads back without any adapter.
  ScratchDir dir("lora-merged");
  models::save_model(*merged, dir.path());
  auto reloaded = models::load_model(dir.path());
  EXPECT_TRUE(bitwise_equal(logits_of(*reloaded, batch, cpu_kernels()), merged_logits));
  const io::SafetensorsReader file(dir.path() / "model.safetensors");
  for (const std::string& n : file.names()) EXPECT_EQ(n.find("lora"), std::string::npos) << n;
}

TEST(Lora, MergedGpt2GivesTheLogitsOfBasePlusAdapter) { check_merge("gpt2-tiny"); }
TEST(Lora, MergedBertGivesTheLogitsOfBasePlusAdapter) { check_merge("bert-tiny-cls"); }

TEST(Lora, FrozenParametersGetNoGradientAndAdaptersDo) {
  for (std::string_view name : {"gpt2-tiny", "bert-tiny-cls"}) {
    auto model = load(name);
    train::apply_lora(*model, config_for(*model), 2);
    randomize_b(*model, 0.5f);  // with B = 0, dL/dA = 0 exactly
    forward_backward(*model, batch_of(name), cpu_kernels());
    for (const Parameter& p : model->parameters()) {
      if (p.trainable) EXPECT_GT(max_abs(p.grad), 0.0) << name << " " << p.name;
      else EXPECT_TRUE(all_zero(p.grad)) << name << " " << p.name;
    }
  }
}

// dL/dA and dL/dB of every adapter against the chain rule through the merged model's weight
// gradient dW (its own backward, which test_models checks against PyTorch):
//   Conv1D  W (in, out) += s·A·B:       dA = s·dW·Bᵀ,  dB = s·Aᵀ·dW
//   Linear  W (out, in) += s·(A·B)ᵀ:    dA = s·dWᵀ·Bᵀ, dB = s·Aᵀ·dWᵀ
// Computed here in double. Bound: 1e-4 · max |expected| per tensor plus 1e-7; measured at most
// 2.4e-6 (cpu) and 5.1e-7 (reference).
void check_chain_rule(std::string_view name, OpKernels& ops) {
  auto model = load(name);
  train::apply_lora(*model, config_for(*model), 9);
  randomize_b(*model, 0.5f);
  auto merged = train::merge_lora(*model);
  const data::Batch batch = batch_of(name);
  forward_backward(*model, batch, ops);
  forward_backward(*merged, batch, ops);
  const std::vector<Linear*> lin = model->linears(), mlin = merged->linears();
  double worst = 0;
  for (std::size_t i = 0; i < lin.size(); ++i) {
    const LoraAdapter* ad = lin[i]->lora();
    if (!ad) continue;
    const Parameter* w = nullptr;
    for (const Parameter& p : merged->parameters())
      if (p.name == mlin[i]->name() + ".weight") w = &p;
    ASSERT_NE(w, nullptr);
    const bool in_out = lin[i]->layout() == models::WeightLayout::InOut;
    const std::int64_t in = ad->a.value.dim(0), r = ad->a.value.dim(1), out = ad->b.value.dim(1);
    const float* A = ad->a.value.data<float>();
    const float* B = ad->b.value.data<float>();
    const float* dW = w->grad.data<float>();
    const auto g = [&](std::int64_t c, std::int64_t j) { return double(in_out ? dW[c * out + j] : dW[j * in + c]); };
    std::vector<double> da(static_cast<std::size_t>(in * r), 0.0), db(static_cast<std::size_t>(r * out), 0.0);
    for (std::int64_t c = 0; c < in; ++c)
      for (std::int64_t j = 0; j < out; ++j) {
        const double gij = g(c, j) * ad->scale;
        for (std::int64_t q = 0; q < r; ++q) {
          da[c * r + q] += gij * B[q * out + j];
          db[q * out + j] += gij * A[c * r + q];
        }
      }
    const auto check = [&](const std::vector<double>& want, const Tensor& got, const char* what) {
      double scale = 0, diff = 0;
      for (std::size_t k = 0; k < want.size(); ++k) {
        scale = std::max(scale, std::abs(want[k]));
        diff = std::max(diff, std::abs(want[k] - double(got.data<float>()[k])));
      }
      EXPECT_LE(diff, 1e-4 * scale + 1e-7) << name << " " << lin[i]->name() << " " << what;
      EXPECT_GT(scale, 0.0);
      worst = std::max(worst, diff / scale);
    };
    check(da, ad->a.grad, "dA");
    check(db, ad->b.grad, "dB");
  }
  std::printf("%s on %s: LoRA gradients vs chain rule, worst relative diff %.3g\n", std::string(name).c_str(),
              std::string(ops.name()).c_str(), worst);
}

TEST(LoraGradients, Gpt2MatchTheChainRuleOnCpu) { check_chain_rule("gpt2-tiny", cpu_kernels()); }
TEST(LoraGradients, Gpt2MatchTheChainRuleOnReference) { check_chain_rule("gpt2-tiny", reference_kernels()); }
TEST(LoraGradients, BertMatchTheChainRuleOnCpu) { check_chain_rule("bert-tiny-cls", cpu_kernels()); }

// Central differences of the loss on the reference backend, with LoRA dropout on (p = 0.3,
// fixed mask) so the dropout backward is covered too. For the 6 entries of largest gradient in
// each of two adapters: |fd - grad| <= 2e-3 · max |grad| + 2e-5 (f32 loss rounding ~5e-7 over
// 2·eps = 2e-2 gives ~3e-5 at most; truncation is O(eps²)). Measured: 8.4e-4 · max |grad|.
TEST(LoraGradients, MatchFiniteDifferencesWithDropout) {
  auto model = load("gpt2-tiny");
  train::apply_lora(*model, config_for(*model, 4, 8.0f, 0.3f), 4);
  randomize_b(*model, 0.5f);
  train::set_lora_training(*model, true);
  train::set_lora_step(*model, 77, 3);
  const data::Batch batch = batch_of("gpt2-tiny");
  OpKernels& ops = reference_kernels();
  forward_backward(*model, batch, ops);
  const float eps = 1e-2f;
  double worst = 0;
  for (std::size_t which : {std::size_t{0}, std::size_t{7}}) {
    LoraAdapter* ad = adapters(*model)[which];
    for (Tensor* t : {&ad->a.value, &ad->b.value}) {
      const Tensor grad = (t == &ad->a.value ? ad->a.grad : ad->b.grad).clone();
      const double gmax = max_abs(grad);
      std::vector<std::int64_t> idx(static_cast<std::size_t>(grad.numel()));
      for (std::size_t k = 0; k < idx.size(); ++k) idx[k] = static_cast<std::int64_t>(k);
      std::partial_sort(idx.begin(), idx.begin() + 6, idx.end(), [&](std::int64_t x, std::int64_t y) {
        return std::abs(grad.data<float>()[x]) > std::abs(grad.data<float>()[y]);
      });
      for (int k = 0; k < 6; ++k) {
        float* v = t->data<float>() + idx[static_cast<std::size_t>(k)];
        const float saved = *v;
        *v = saved + eps;
        const double up = model->forward(batch, ops);
        *v = saved - eps;
        const double down = model->forward(batch, ops);
        *v = saved;
        const double fd = (up - down) / (2.0 * double(eps));
        const double got = grad.data<float>()[idx[static_cast<std::size_t>(k)]];
        EXPECT_LE(std::abs(fd - got), 2e-3 * gmax + 2e-5) << "adapter " << which << " entry " << idx[static_cast<std::size_t>(k)];
        worst = std::max(worst, std::abs(fd - got) / gmax);
      }
    }
  }
  std::printf("finite differences: worst |fd - grad| / max |grad| = %.3g\n", worst);
}

TEST(Lora, DropoutMaskFollowsTheStepAndIsOffInEvaluation) {
  auto model = load("gpt2-tiny");
  train::apply_lora(*model, config_for(*model, 4, 8.0f, 0.5f), 4);
  randomize_b(*model, 0.5f);
  const data::Batch batch = batch_of("gpt2-tiny");
  const Tensor eval = logits_of(*model, batch, cpu_kernels());
  train::set_lora_training(*model, true);
  train::set_lora_step(*model, 1, 10);
  const Tensor s10 = logits_of(*model, batch, cpu_kernels());
  const Tensor s10_again = logits_of(*model, batch, cpu_kernels());
  train::set_lora_step(*model, 1, 11);
  const Tensor s11 = logits_of(*model, batch, cpu_kernels());
  EXPECT_TRUE(bitwise_equal(s10, s10_again));
  EXPECT_FALSE(bitwise_equal(s10, s11));
  EXPECT_FALSE(bitwise_equal(s10, eval));
  train::set_lora_training(*model, false);
  EXPECT_TRUE(bitwise_equal(logits_of(*model, batch, cpu_kernels()), eval));
}

// The backward pass recorded as a task graph: frozen weights drop their weight-gradient
// products, so LoRA's backward costs less than full fine-tuning's (by the base weights' dW
// matmuls, the LM head's dwte and the embedding backward).
TEST(LoraGraph, BackwardCostsLessThanFullFineTuning) {
  const auto backward_flops = [](Model& model) {
    graph::Recorder rec;
    model.forward_ops(batch_of("gpt2-tiny"), rec);
    model.backward(rec);
    double flops = 0;
    for (const graph::Task& t : rec.graph().tasks())
      if (t.scope.phase == Phase::Backward) flops += t.cost.flops;
    return flops;
  };
  auto full = load("gpt2-tiny"), lora = load("gpt2-tiny");
  train::apply_lora(*lora, config_for(*lora), 1);
  const double f_full = backward_flops(*full), f_lora = backward_flops(*lora);
  std::printf("gpt2-tiny backward FLOPs: full %.3g, LoRA r=4 %.3g (%.0f%%)\n", f_full, f_lora, 100 * f_lora / f_full);
  EXPECT_LT(f_lora, 0.8 * f_full);
}

// A few AdamW steps through the scheduler's Session (record, place on the CPU, run): the loss
// falls, the adapters move, every base parameter stays bitwise as loaded, and only the
// adapters have AdamW moments (frozen weights would double the model's memory for nothing).
TEST(LoraSession, StepsTrainOnlyTheAdapters) {
  auto model = load("gpt2-tiny"), base = load("gpt2-tiny");
  train::apply_lora(*model, config_for(*model, 4, 8.0f, 0.1f), 1);
  train::set_lora_training(*model, true);
  sched::SessionOptions options;
  options.policy = "cpu";
  options.use_history = false;
  options.adamw.lr = 1e-2f;
  sched::Session session(*model, options);
  const std::span<const Parameter> params = model->parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(session.first_moments()[i].defined(), params[i].trainable) << params[i].name;
    EXPECT_EQ(session.second_moments()[i].defined(), params[i].trainable) << params[i].name;
  }
  const data::Batch batch = batch_of("gpt2-tiny");
  std::vector<float> losses;
  for (int step = 0; step < 6; ++step) {
    train::set_lora_step(*model, 5, step);
    losses.push_back(session.step(batch).loss);
  }
  EXPECT_LT(losses.back(), losses.front() - 0.05f) << losses.front() << " -> " << losses.back();
  for (std::size_t i = 0; i < base->parameters().size(); ++i)
    EXPECT_TRUE(bitwise_equal(model->parameters()[i].value, base->parameters()[i].value)) << base->parameters()[i].name;
  for (LoraAdapter* a : adapters(*model)) EXPECT_FALSE(all_zero(a->b.value));
}

TEST(LoraExport, RoundTripsInPeftLayout) {
  auto model = load("gpt2-tiny");
  const LoraConfig config = config_for(*model, 4, 8.0f, 0.05f);
  train::apply_lora(*model, config, 8);
  randomize_b(*model, 0.5f);
  const data::Batch batch = batch_of("gpt2-tiny");
  const Tensor logits = logits_of(*model, batch, cpu_kernels());

  ScratchDir scratch("lora-export");
  const char* keep = std::getenv("TANDEM_LORA_EXPORT_DIR");  // for make_lora_fixtures.py --check
  const std::filesystem::path dir = keep ? std::filesystem::path(keep) : scratch.path() / "adapter";
  train::save_lora_adapter(*model, config, dir, "gpt2-tiny");
  if (keep) {
    const std::vector<std::pair<std::string, Tensor>> t = {{"ids", batch_of("gpt2-tiny").ids.clone()}, {"logits", logits}};
    std::vector<float> ids(static_cast<std::size_t>(t[0].second.numel()));
    for (std::size_t k = 0; k < ids.size(); ++k) ids[k] = float(t[0].second.data<std::int32_t>()[k]);
    io::write_safetensors(dir / "tandem_logits.safetensors",
                          std::vector<std::pair<std::string, Tensor>>{{"ids", Tensor::from(std::span<const float>(ids), t[0].second.shape())},
                                                                      {"logits", logits}},
                          {});
  }

  const nlohmann::json j = nlohmann::json::parse(read_text(dir / "adapter_config.json"));
  EXPECT_EQ(j.at("peft_type"), "LORA");
  EXPECT_EQ(j.at("r"), 4);
  EXPECT_EQ(j.at("lora_alpha"), 8.0);
  EXPECT_NEAR(j.at("lora_dropout").get<double>(), 0.05, 1e-7);
  EXPECT_EQ(j.at("target_modules"), nlohmann::json({"c_attn", "c_proj", "c_fc"}));
  EXPECT_EQ(j.at("base_model_name_or_path"), "gpt2-tiny");
  EXPECT_EQ(j.at("task_type"), "CAUSAL_LM");

  const io::SafetensorsReader file(dir / "adapter_model.safetensors");
  EXPECT_EQ(file.names().size(), 16u);
  const Tensor a = file.load("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight");
  const Tensor b = file.load("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight");
  ASSERT_EQ(a.shape(), (Shape{4, 64}));
  ASSERT_EQ(b.shape(), (Shape{192, 4}));
  const LoraAdapter& ours = *adapters(*model)[0];
  EXPECT_EQ(a.data<float>()[1 * 64 + 5], ours.a.value.data<float>()[5 * 4 + 1]);
  EXPECT_EQ(b.data<float>()[100 * 4 + 3], ours.b.value.data<float>()[3 * 192 + 100]);

  auto loaded = load("gpt2-tiny");
  const LoraConfig back = train::load_lora_adapter(*loaded, dir);
  EXPECT_EQ(back.rank, 4);
  EXPECT_EQ(back.alpha, 8.0f);
  EXPECT_EQ(back.targets, config.targets);
  EXPECT_TRUE(bitwise_equal(logits_of(*loaded, batch, cpu_kernels()), logits));
}

// The adapter peft wrote (r 4, alpha 8, random A and B) on the gpt2-tiny base, against
// PeftModel's logits in eval mode. Bound: 1e-4 · max |logits|, as test_models' logit parity;
// measured 4.4e-6 (adapter) and 6.2e-6 (merged). The merged model is checked against peft's
// merge_and_unload().
TEST(LoraPeft, AdapterWrittenByPeftGivesPeftsLogits) {
  const std::filesystem::path dir = std::filesystem::path(TANDEM_FIXTURES) / "lora" / "gpt2-tiny-peft";
  const io::SafetensorsReader ref(dir / "reference.safetensors");
  data::Batch batch;
  batch.ids = to_i32(ref.load("ids"));
  auto model = load("gpt2-tiny");
  const LoraConfig config = train::load_lora_adapter(*model, dir);
  EXPECT_EQ(config.rank, 4);
  EXPECT_EQ(config.alpha, 8.0f);
  EXPECT_FLOAT_EQ(config.dropout, 0.1f);
  const Tensor logits = logits_of(*model, batch, cpu_kernels());
  const Diff d = compare(logits, ref.load("logits"));
  std::printf("peft adapter: max |tandem - peft| %.3g (relative %.3g)\n", d.max_abs, d.relative());
  EXPECT_LE(d.max_abs, 1e-4 * d.ref_scale);
  EXPECT_GT(compare(ref.load("base_logits"), ref.load("logits")).max_abs, 0.1 * d.ref_scale);

  auto merged = train::merge_lora(*model);
  const Diff dm = compare(logits_of(*merged, batch, cpu_kernels()), ref.load("merged_logits"));
  std::printf("peft merged: max |tandem - peft| %.3g (relative %.3g)\n", dm.max_abs, dm.relative());
  EXPECT_LE(dm.max_abs, 1e-4 * dm.ref_scale);
}

void write(const std::filesystem::path& p, const std::string& text) { std::ofstream(p) << text; }

TEST(LoraPeft, BadAdaptersAreIoErrors) {
  const std::filesystem::path good = std::filesystem::path(TANDEM_FIXTURES) / "lora" / "gpt2-tiny-peft";
  const auto expect_io = [](const std::filesystem::path& dir, const std::string& needle) {
    auto model = load("gpt2-tiny");
    try {
      train::load_lora_adapter(*model, dir);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::Io) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  };
  ScratchDir scratch("lora-bad");
  expect_io(scratch.path() / "missing", "adapter_config.json");

  const nlohmann::json config = nlohmann::json::parse(read_text(good / "adapter_config.json"));
  const auto variant = [&](const std::string& tag, const nlohmann::json& j) {
    const std::filesystem::path d = scratch.path() / tag;
    std::filesystem::create_directories(d);
    write(d / "adapter_config.json", j.dump());
    std::filesystem::copy_file(good / "adapter_model.safetensors", d / "adapter_model.safetensors");
    return d;
  };
  nlohmann::json j = config;
  j["peft_type"] = "IA3";
  expect_io(variant("ia3", j), "peft_type");
  j = config;
  j["use_dora"] = true;
  expect_io(variant("dora", j), "use_dora");
  j = config;
  j["r"] = 8;  // tensors are rank 4
  expect_io(variant("rank", j), "expected");
  j = config;
  j["target_modules"] = {"c_attn"};  // the file also holds c_proj and c_fc tensors
  expect_io(variant("extra", j), "names no LoRA adapter");
  j = config;
  j["target_modules"] = {"c_attn", "c_proj", "c_fc", "nothing"};
  expect_io(variant("target", j), "nothing");
  const std::filesystem::path bad_json = variant("json", config);
  write(bad_json / "adapter_config.json", "{\"peft_type\": ");
  expect_io(bad_json, "JSON");
}

}  // namespace
}  // namespace tandem::testing
