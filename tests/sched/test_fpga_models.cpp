// The card models of bitstreams/{u280,u55c}/manifest.json give different, plausible heft plans
// for the same GPT-2 training step (GPT-2 small's layer shapes: width 768, 12 heads, 2 of its
// 12 layers, batch 4 x 128 tokens, the 50257-token LM head). The U55C manifest describes a
// 32x32 GEMM array against the U280's 16x32 (both at 300 MHz, same HBM and PCIe figures), so
// compute-bound matmuls are predicted twice as fast there and nothing else changes.
#include <gtest/gtest.h>

#include <algorithm>

#include "backends/cpu/cpu_kernels.hpp"
#include "graph/recorder.hpp"
#include "sched/cost_model.hpp"
#include "sched/policy.hpp"
#include "sched/residency.hpp"

namespace tandem::sched {
namespace {

using graph::Recorder;
using graph::TaskGraph;

constexpr std::int64_t kBatch = 4, kSeq = 128, kWidth = 768, kHeads = 12, kVocab = 50257;
constexpr int kLayers = 2;

Tensor mk(const Shape& s) { return Tensor::empty(s); }

struct Weight {
  Tensor w, g, m, v;
  explicit Weight(const Shape& s) : w(mk(s)), g(mk(s)), m(mk(s)), v(mk(s)) {}
};

// One transformer block's forward and backward ops as GPT-2 issues them, recorded only (the
// recorder reads shapes, so the buffers stay uninitialised).
struct Block {
  Weight ln_w{{kWidth}}, ln_b{{kWidth}}, wq{{kWidth, kWidth}}, wk{{kWidth, kWidth}}, wv{{kWidth, kWidth}},
      wo{{kWidth, kWidth}}, fc{{kWidth, 4 * kWidth}}, proj{{4 * kWidth, kWidth}};
  Tensor x, ln, mean, rstd, q, k, v, att, probs, o, r1, h, hg, y;

  Tensor forward(Recorder& rec, const Tensor& in) {
    const std::int64_t n = kBatch * kSeq;
    const AttentionArgs args{static_cast<int>(kHeads), true, 0.0f};
    x = in, ln = mk({n, kWidth}), mean = mk({n}), rstd = mk({n});
    rec.layernorm(x, ln_w.w, ln_b.w, 1e-5f, ln, mean, rstd);
    q = mk({n, kWidth}), k = mk({n, kWidth}), v = mk({n, kWidth});
    rec.matmul(ln, wq.w, q, {});
    rec.matmul(ln, wk.w, k, {});
    rec.matmul(ln, wv.w, v, {});
    att = mk({kBatch, kSeq, kWidth}), probs = mk({kBatch, kHeads, kSeq, kSeq});
    rec.attention(q.reshape({kBatch, kSeq, kWidth}), k.reshape({kBatch, kSeq, kWidth}), v.reshape({kBatch, kSeq, kWidth}),
                  Tensor(), att, probs, args);
    o = mk({n, kWidth}), r1 = mk({n, kWidth});
    rec.matmul(att.reshape({n, kWidth}), wo.w, o, {});
    rec.residual_add(x, o, r1);
    h = mk({n, 4 * kWidth}), hg = mk({n, 4 * kWidth}), y = mk({n, kWidth});
    rec.matmul(r1, fc.w, h, {});
    rec.gelu(h, hg, GeluKind::Tanh);
    rec.matmul(hg, proj.w, y, {});
    Tensor out = mk({n, kWidth});
    rec.residual_add(r1, y, out);
    return out;
  }

  Tensor backward(Recorder& rec, const Tensor& dout) {
    const std::int64_t n = kBatch * kSeq;
    const AttentionArgs args{static_cast<int>(kHeads), true, 0.0f};
    Tensor dr1 = mk({n, kWidth}), dy = mk({n, kWidth}), dhg = mk({n, 4 * kWidth}), dh = mk({n, 4 * kWidth});
    rec.residual_add_backward(dout, dr1, dy);
    rec.matmul_backward(hg, proj.w, dy, dhg, proj.g, {});
    rec.gelu_backward(h, dhg, dh, GeluKind::Tanh);
    rec.matmul_backward(r1, fc.w, dh, dr1, fc.g, {});
    Tensor dx = mk({n, kWidth}), do_ = mk({n, kWidth}), datt = mk({n, kWidth});
    rec.residual_add_backward(dr1, dx, do_);
    rec.matmul_backward(att.reshape({n, kWidth}), wo.w, do_, datt, wo.g, {});
    Tensor dq = mk({kBatch, kSeq, kWidth}), dk = mk({kBatch, kSeq, kWidth}), dv = mk({kBatch, kSeq, kWidth});
    rec.attention_backward(q.reshape({kBatch, kSeq, kWidth}), k.reshape({kBatch, kSeq, kWidth}),
                           v.reshape({kBatch, kSeq, kWidth}), probs, datt.reshape({kBatch, kSeq, kWidth}), dq, dk, dv, args);
    Tensor dln = mk({n, kWidth});
    rec.matmul_backward(ln, wq.w, dq.reshape({n, kWidth}), dln, wq.g, {});
    rec.matmul_backward(ln, wk.w, dk.reshape({n, kWidth}), dln, wk.g, {});
    rec.matmul_backward(ln, wv.w, dv.reshape({n, kWidth}), dln, wv.g, {});
    rec.layernorm_backward(dln, x, ln_w.w, mean, rstd, dx, ln_w.g, ln_b.g);
    return dx;
  }

  void optimizer(Recorder& rec) {
    for (Weight* p : {&ln_w, &ln_b, &wq, &wk, &wv, &wo, &fc, &proj}) rec.adamw(p->w, p->g, p->m, p->v, {});
  }
};

TaskGraph record_gpt2_step() {
  Recorder rec;
  const std::int64_t n = kBatch * kSeq;
  std::vector<Block> blocks(kLayers);
  Tensor x = mk({n, kWidth});
  for (int l = 0; l < kLayers; ++l) {
    rec.set_scope({l, Phase::Forward});
    x = blocks[std::size_t(l)].forward(rec, x);
  }
  rec.set_scope({-1, Phase::Forward});
  Weight head({kWidth, kVocab});
  Tensor logits = mk({n, kVocab}), targets = Tensor::zeros({n}, DType::I32), loss = mk({1}), lse = mk({n});
  rec.matmul(x, head.w, logits, {});
  rec.cross_entropy(logits, targets, loss, lse, {});
  rec.set_scope({-1, Phase::Backward});
  Tensor dlogits = mk({n, kVocab}), dx = mk({n, kWidth});
  rec.cross_entropy_backward(logits, targets, lse, 1.0f, dlogits, {});
  rec.matmul_backward(x, head.w, dlogits, dx, head.g, {});
  for (int l = kLayers - 1; l >= 0; --l) {
    rec.set_scope({l, Phase::Backward});
    dx = blocks[std::size_t(l)].backward(rec, dx);
  }
  rec.set_scope({-1, Phase::Optimizer});
  rec.adamw(head.w, head.g, head.m, head.v, {});
  for (Block& b : blocks) b.optimizer(rec);
  return rec.take();
}

// The CPU of test_policy.cpp: 150 GFLOP/s GEMM and 25 GB/s, fixed so plans do not depend on
// this machine.
DeviceCost cpu() {
  DeviceCost d;
  d.spec = "cpu";
  d.is_cpu = true;
  d.history.device = "cpu";
  d.history.peak_gflops = 150;
  d.history.peak_gbps = 25;
  return d;
}

DeviceCost card(const std::string& name) {
  DeviceCost d;
  d.spec = "opencl:0";
  d.model = load_fpga_model(name, TANDEM_BITSTREAMS);
  return d;
}

struct Plan {
  Placement placement;
  int matmuls_on_card = 0, tasks_on_card = 0;
};

Plan heft_plan(const TaskGraph& g, const std::string& model) {
  const std::vector<Device> devices = {{"cpu", &cpu_kernels(), true}, {"opencl:0", &cpu_kernels(), false}};
  const CostModel cost({cpu(), card(model)});
  Residency residency;
  Plan p{place(parse_policy("heft"), g, devices, cost, residency, {}), 0, 0};
  for (const graph::Task& t : g.tasks()) {
    const TaskPlacement& tp = p.placement.tasks[t.id];
    if (tp.device != 1) continue;
    ++p.tasks_on_card;
    if (t.kind == OpKind::MatMul || t.kind == OpKind::MatMulBackward) ++p.matmuls_on_card;
    EXPECT_TRUE(tp.modeled) << model << " task " << t.id << " " << t.name;
  }
  return p;
}

TEST(FpgaModels, U55cAndU280DifferOnlyInTheGemmArray) {
  const FpgaModel u280 = load_fpga_model("u280", TANDEM_BITSTREAMS), u55c = load_fpga_model("u55c", TANDEM_BITSTREAMS);
  // 16 x 32 and 32 x 32 MACs x 2 FLOP x 300 MHz.
  EXPECT_DOUBLE_EQ(u280.gemm_gflops(), 307.2);
  EXPECT_DOUBLE_EQ(u55c.gemm_gflops(), 614.4);
  EXPECT_EQ(u55c.dsps, 9024);
  EXPECT_EQ(u55c.memory_gbps, u280.memory_gbps);
  EXPECT_EQ(u55c.launch_us, u280.launch_us);
  EXPECT_EQ(u55c.bitstream_load_ms, u280.bitstream_load_ms);
}

TEST(FpgaModels, U280AndU55cGiveDifferentPlausibleHeftPlans) {
  const TaskGraph g = record_gpt2_step();
  const Plan a = heft_plan(g, "u280"), b = heft_plan(g, "u55c");
  const double cpu_only = [&] {
    const std::vector<Device> devices = {{"cpu", &cpu_kernels(), true}, {"opencl:0", &cpu_kernels(), false}};
    const CostModel cost({cpu(), card("u280")});
    Residency residency;
    return place(parse_policy("cpu"), g, devices, cost, residency, {}).predicted_step_ms;
  }();
  // The LM head alone: 2 * 512 * 768 * 50257 FLOP = 39.5 GFLOP, 264 ms at the CPU's 150 GFLOP/s;
  // forward and backward (3x) of the whole step are over a second on the CPU.
  EXPECT_GT(cpu_only, 1000);
  // Both cards take work and beat the CPU alone; the faster array takes at least as many matmuls
  // and finishes sooner, by less than its 2x GEMM advantage (the rest of the step is unchanged).
  EXPECT_GT(a.matmuls_on_card, 0);
  EXPECT_GE(b.matmuls_on_card, a.matmuls_on_card);
  EXPECT_LT(a.placement.predicted_step_ms, cpu_only);
  EXPECT_LT(b.placement.predicted_step_ms, a.placement.predicted_step_ms * 0.95);
  EXPECT_GT(b.placement.predicted_step_ms, a.placement.predicted_step_ms / 2);
  // A different plan, not only different times.
  bool differs = false;
  for (std::size_t i = 0; i < a.placement.tasks.size(); ++i) differs |= a.placement.tasks[i].device != b.placement.tasks[i].device;
  EXPECT_TRUE(differs) << "u280 and u55c placed every task alike";
  RecordProperty("u280_ms", std::to_string(a.placement.predicted_step_ms));
  RecordProperty("u55c_ms", std::to_string(b.placement.predicted_step_ms));
  std::printf("cpu only %.1f ms; u280 %.1f ms (%d tasks, %d matmuls on the card); u55c %.1f ms (%d tasks, %d matmuls)\n",
              cpu_only, a.placement.predicted_step_ms, a.tasks_on_card, a.matmuls_on_card, b.placement.predicted_step_ms,
              b.tasks_on_card, b.matmuls_on_card);
}

}  // namespace
}  // namespace tandem::sched
