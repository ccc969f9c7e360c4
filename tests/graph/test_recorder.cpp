// The step task graph, built by recording the models' forward and backward passes.
//
// Model graphs: recording GPT-2 and BERT (tests/fixtures/models, the tiny random-weight models
// of tests/models) with graph::Recorder and then running every task on the CPU backend must give
// bitwise the same loss, logits and parameter gradients as issuing the same ops to the CPU
// backend directly. That holds only if the models do all host work through OpKernels::host and
// read no op result while recording, and if the graph's dependencies are complete: the same must
// hold for other valid orders of the tasks (a seeded random Kahn order and a latest-first
// order). The independent reference is the direct run; no value here comes from the recorder.
//
// Hand-made graphs: the dependency rules (read-after-write, write-after-read,
// write-after-write) on whole tensors and on narrow() views of one buffer, each expected edge
// derived by hand.

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "../models/model_fixtures.hpp"
#include "backends/cpu/cpu_kernels.hpp"
#include "graph/recorder.hpp"
#include "graph/task_graph.hpp"
#include "models/model.hpp"

namespace tandem::testing {
namespace {

using graph::Recorder;
using graph::Task;
using graph::TaskGraph;
using graph::TaskId;

// ---------------------------------------------------------------------------------------------
// Model graphs

struct StepResult {
  float loss = 0;
  Tensor logits;
  std::vector<Tensor> grads;  // per parameter, in registration order
};

StepResult collect(models::Model& model, float loss) {
  StepResult r{loss, model.logits().clone(), {}};
  for (const models::Parameter& p : model.parameters()) r.grads.push_back(p.grad.clone());
  return r;
}

StepResult run_direct(models::Model& model, const data::Batch& batch) {
  model.zero_grad();
  const float loss = model.forward(batch, cpu_kernels());
  model.backward(cpu_kernels());
  return collect(model, loss);
}

struct Recording {
  TaskGraph graph;
  std::size_t forward_tasks = 0;  // tasks [0, forward_tasks) come from forward_ops()
};

// Zeroes the gradients (at once: no task has run yet) and records forward and backward. The graph
// is good for one run: the buffers its backward ops accumulate into were zeroed when recorded.
Recording record(models::Model& model, const data::Batch& batch) {
  model.zero_grad();
  Recorder rec;
  model.forward_ops(batch, rec);
  Recording out;
  out.forward_tasks = rec.graph().size();
  model.backward(rec);
  out.graph = rec.take();
  return out;
}

StepResult run_tasks(models::Model& model, const TaskGraph& g, const std::vector<TaskId>& order) {
  for (TaskId id : order) g[id].run(cpu_kernels());
  const Tensor& loss = model.loss_tensor();
  return collect(model, loss.defined() ? loss.data<float>()[0] : 0.0f);
}

std::vector<TaskId> id_order(const TaskGraph& g) {
  std::vector<TaskId> order(g.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<TaskId>(i);
  return order;
}

// Kahn's algorithm over deps/users, taking the next task from the ready set with @p pick.
template <class Pick>
std::vector<TaskId> topological_order(const TaskGraph& g, Pick pick) {
  std::vector<std::size_t> waiting(g.size());
  std::vector<TaskId> ready, order;
  for (const Task& t : g.tasks()) {
    waiting[t.id] = t.deps.size();
    if (t.deps.empty()) ready.push_back(t.id);
  }
  while (!ready.empty()) {
    const std::size_t i = pick(ready);
    const TaskId id = ready[i];
    ready.erase(ready.begin() + static_cast<std::ptrdiff_t>(i));
    order.push_back(id);
    for (TaskId u : g[id].users)
      if (--waiting[u] == 0) ready.push_back(u);
  }
  return order;
}

std::vector<TaskId> random_order(const TaskGraph& g, unsigned seed) {
  std::mt19937 rng(seed);
  return topological_order(g, [&](const std::vector<TaskId>& ready) {
    return std::uniform_int_distribution<std::size_t>(0, ready.size() - 1)(rng);
  });
}

// Always the highest-numbered ready task: as far from recording order as the edges allow.
std::vector<TaskId> latest_first_order(const TaskGraph& g) {
  return topological_order(g, [](const std::vector<TaskId>& ready) {
    return static_cast<std::size_t>(std::max_element(ready.begin(), ready.end()) - ready.begin());
  });
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data<float>(), b.data<float>(), a.nbytes()) == 0;
}

void expect_bitwise_equal(const StepResult& got, const StepResult& want, models::Model& model, std::string_view what) {
  EXPECT_EQ(std::bit_cast<std::uint32_t>(got.loss), std::bit_cast<std::uint32_t>(want.loss))
      << what << ": loss " << got.loss << " vs " << want.loss;
  EXPECT_TRUE(bitwise_equal(got.logits, want.logits)) << what << ": logits differ";
  ASSERT_EQ(got.grads.size(), want.grads.size());
  for (std::size_t i = 0; i < got.grads.size(); ++i)
    EXPECT_TRUE(bitwise_equal(got.grads[i], want.grads[i])) << what << ": gradient of " << model.parameters()[i].name;
}

class ModelGraph : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    model_ = models::load_model(fixture_dir(GetParam()));
    const io::SafetensorsReader ref(fixture_dir(GetParam()) / "reference.safetensors");
    batch_ = reference_batch(ref);
  }

  std::unique_ptr<models::Model> model_;
  data::Batch batch_;
};

TEST_P(ModelGraph, RecordedRunIsBitwiseTheDirectRun) {
  // Record first, so no buffer of the direct run can lend its values to a recorded read.
  Recording rec = record(*model_, batch_);
  const StepResult recorded = run_tasks(*model_, rec.graph, id_order(rec.graph));
  const StepResult direct = run_direct(*model_, batch_);
  ASSERT_TRUE(model_->loss_tensor().defined());
  EXPECT_GT(direct.loss, 0.0f);
  expect_bitwise_equal(recorded, direct, *model_, "tasks in id order");
}

TEST_P(ModelGraph, OtherTopologicalOrdersGiveTheSameResult) {
  const StepResult direct = run_direct(*model_, batch_);

  Recording a = record(*model_, batch_);
  const std::vector<TaskId> shuffled = random_order(a.graph, 20240531u);
  ASSERT_EQ(shuffled.size(), a.graph.size()) << "the graph has a cycle";
  EXPECT_NE(shuffled, id_order(a.graph)) << "the random order is the recording order: the test says nothing";
  expect_bitwise_equal(run_tasks(*model_, a.graph, shuffled), direct, *model_, "random Kahn order");

  Recording b = record(*model_, batch_);
  const std::vector<TaskId> latest = latest_first_order(b.graph);
  ASSERT_EQ(latest.size(), b.graph.size());
  EXPECT_NE(latest, id_order(b.graph));
  expect_bitwise_equal(run_tasks(*model_, b.graph, latest), direct, *model_, "latest-first order");
}

TEST_P(ModelGraph, EveryTaskHasItsLayerAndPhase) {
  const Recording rec = record(*model_, batch_);
  const TaskGraph& g = rec.graph;
  ASSERT_GT(rec.forward_tasks, 0u);
  ASSERT_LT(rec.forward_tasks, g.size());
  const int layers = static_cast<int>(model_->config().layers);
  std::set<int> forward_layers, backward_layers;
  // Per layer, the one attention op of that block: checks the scope is set before each block.
  std::vector<int> attention(static_cast<std::size_t>(layers), 0), attention_backward(attention);
  for (const Task& t : g.tasks()) {
    const bool forward = t.id < rec.forward_tasks;
    EXPECT_EQ(t.scope.phase, forward ? Phase::Forward : Phase::Backward) << t.id << " " << t.name;
    EXPECT_GE(t.scope.layer, -1) << t.name;
    EXPECT_LT(t.scope.layer, layers) << t.name;
    (forward ? forward_layers : backward_layers).insert(t.scope.layer);
    if (t.kind == OpKind::Embedding || t.kind == OpKind::EmbeddingBackward || t.kind == OpKind::CrossEntropy ||
        t.kind == OpKind::CrossEntropyBackward) {
      EXPECT_EQ(t.scope.layer, -1) << t.name;
    }
    if (t.scope.layer >= 0 && t.kind == OpKind::Attention) ++attention[static_cast<std::size_t>(t.scope.layer)];
    if (t.scope.layer >= 0 && t.kind == OpKind::AttentionBackward)
      ++attention_backward[static_cast<std::size_t>(t.scope.layer)];
  }
  std::set<int> all{-1};
  for (int l = 0; l < layers; ++l) all.insert(l);
  EXPECT_EQ(forward_layers, all);
  EXPECT_EQ(backward_layers, all);
  EXPECT_EQ(attention, std::vector<int>(attention.size(), 1));
  EXPECT_EQ(attention_backward, std::vector<int>(attention.size(), 1));
}

TEST_P(ModelGraph, HostWorkIsRecordedAsHostTasks) {
  const Recording rec = record(*model_, batch_);
  std::multiset<std::string> host;
  for (const Task& t : rec.graph.tasks())
    if (t.kind == OpKind::Host) {
      EXPECT_TRUE(t.host_only) << t.name;
      EXPECT_FALSE(t.writes.empty()) << t.name;
      host.insert(t.name);
    }
  const auto layers = static_cast<std::size_t>(model_->config().layers);
  const std::string_view name = GetParam();
  if (name == "gpt2-tiny") {
    EXPECT_EQ(host.count("split_qkv"), layers);
    EXPECT_EQ(host.count("join_qkv"), layers);
    EXPECT_EQ(host.size(), 2 * layers);
  } else if (name == "bert-tiny-cls") {
    EXPECT_EQ(host, (std::multiset<std::string>{"pooler_tanh", "pooler_tanh_backward"}));
  } else {
    EXPECT_TRUE(host.empty());
  }
}

// The batch with its first @p t positions only.
data::Batch shorter(const data::Batch& b, std::int64_t t) {
  const auto cut = [t](const Tensor& x) { return x.defined() ? x.narrow(1, 0, t).contiguous() : Tensor(); };
  return {cut(b.ids), cut(b.targets), b.labels, cut(b.mask), cut(b.token_types)};
}

TEST_P(ModelGraph, SignatureFollowsTheBatchShape) {
  const std::string first = record(*model_, batch_).graph.signature();
  const std::string again = record(*model_, batch_).graph.signature();
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(first, again);
  ASSERT_GT(batch_.ids.dim(1), 2);
  const std::string shorter_seq = record(*model_, shorter(batch_, batch_.ids.dim(1) - 1)).graph.signature();
  EXPECT_NE(first, shorter_seq);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelGraph, ::testing::Values("gpt2-tiny", "bert-tiny-cls", "bert-tiny-mlm"),
                         [](const ::testing::TestParamInfo<const char*>& fixture) {
                           std::string s = fixture.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

// ---------------------------------------------------------------------------------------------
// Hand-made graphs

// A task that reads @p reads and writes @p writes and does nothing.
Task access(std::vector<Tensor> reads, std::vector<Tensor> writes) {
  Task t;
  t.kind = OpKind::Host;
  t.host_only = true;
  t.name = "access";
  for (const Tensor& r : reads) t.reads.push_back(graph::region_of(r));
  for (const Tensor& w : writes) t.writes.push_back(graph::region_of(w));
  t.keep = std::move(reads);
  t.keep.insert(t.keep.end(), writes.begin(), writes.end());
  t.run = [](OpKernels&) {};
  return t;
}

std::set<TaskId> deps(const TaskGraph& g, TaskId id) { return {g[id].deps.begin(), g[id].deps.end()}; }

TEST(TaskGraphRules, ReadAfterWrite) {
  const Tensor a = Tensor::zeros(Shape{4, 4}), b = Tensor::zeros(Shape{4, 4});
  TaskGraph g;
  const TaskId w = g.add(access({}, {a}));
  const TaskId r = g.add(access({a}, {b}));
  EXPECT_EQ(deps(g, r), std::set<TaskId>{w});
  EXPECT_EQ(g[w].users, std::vector<TaskId>{r});
}

TEST(TaskGraphRules, WriteAfterRead) {
  const Tensor a = Tensor::zeros(Shape{4, 4}), b = Tensor::zeros(Shape{4, 4}), c = Tensor::zeros(Shape{4, 4});
  TaskGraph g;
  const TaskId r1 = g.add(access({a}, {b}));  // a never written in the graph: input data
  const TaskId r2 = g.add(access({a}, {c}));
  const TaskId w = g.add(access({}, {a}));
  EXPECT_TRUE(deps(g, r1).empty());
  EXPECT_TRUE(deps(g, r2).empty()) << "two readers of one tensor must not wait for each other";
  EXPECT_EQ(deps(g, w), (std::set<TaskId>{r1, r2}));
}

TEST(TaskGraphRules, WriteAfterWrite) {
  const Tensor a = Tensor::zeros(Shape{8});
  TaskGraph g;
  const TaskId w1 = g.add(access({}, {a}));
  const TaskId w2 = g.add(access({}, {a}));
  const TaskId r = g.add(access({a}, {}));
  EXPECT_EQ(deps(g, w2), std::set<TaskId>{w1});
  EXPECT_EQ(deps(g, r), std::set<TaskId>{w2}) << "a read waits for the last writer only";
}

TEST(TaskGraphRules, ViewsOfOneBuffer) {
  // Rows of one (8, 4) buffer: narrow(0, ...) views are contiguous byte ranges.
  const Tensor buf = Tensor::zeros(Shape{8, 4});
  const auto rows = [&](std::int64_t start, std::int64_t n) { return buf.narrow(0, start, n); };
  TaskGraph g;
  const TaskId top = g.add(access({}, {rows(0, 4)}));
  const TaskId bottom = g.add(access({}, {rows(4, 4)}));
  const TaskId middle = g.add(access({rows(2, 4)}, {}));  // rows 2..5: both halves
  const TaskId last = g.add(access({}, {rows(6, 2)}));    // rows 6..7: bottom only, not what middle read
  const TaskId first = g.add(access({rows(0, 1)}, {}));   // row 0: top only
  const TaskId whole = g.add(access({}, {buf}));
  EXPECT_TRUE(deps(g, bottom).empty()) << "disjoint views of one buffer";
  EXPECT_EQ(deps(g, middle), (std::set<TaskId>{top, bottom}));
  // last also waits for middle (whose read does not reach rows 6..7): the graph tracks readers per
  // written range, a safe over-approximation. What matters is the writer and not top.
  EXPECT_TRUE(deps(g, last).contains(bottom));
  EXPECT_FALSE(deps(g, last).contains(top));
  EXPECT_EQ(deps(g, first), std::set<TaskId>{top});
  // The whole-buffer write must follow every earlier access it overlaps (directly or through a
  // chain); the direct edges must at least cover the readers and the last writers.
  const std::set<TaskId> d = deps(g, whole);
  for (TaskId id : {middle, last, first, top}) EXPECT_TRUE(d.contains(id)) << "whole write misses task " << id;
}

TEST(TaskGraphRules, DisjointBuffersHaveNoEdges) {
  const Tensor a = Tensor::zeros(Shape{4}), b = Tensor::zeros(Shape{4});
  TaskGraph g;
  g.add(access({}, {a}));
  const TaskId other = g.add(access({b}, {b}));
  EXPECT_TRUE(deps(g, other).empty());
}

// A read that spans a written part and a never-written part of a buffer, followed by a write
// of the never-written part: that write must wait for the read (write-after-read).
TEST(TaskGraphRules, WriteAfterReadOfPartlyWrittenBuffer) {
  const Tensor buf = Tensor::zeros(Shape{8, 4});
  TaskGraph g;
  g.add(access({}, {buf.narrow(0, 0, 4)}));
  const TaskId reader = g.add(access({buf}, {}));
  const TaskId w = g.add(access({}, {buf.narrow(0, 4, 4)}));
  EXPECT_TRUE(deps(g, w).contains(reader));
}

// Column views (narrow of the last dimension) are strided: their bytes are not one range from
// the first element. Writing columns 0..2 of a (4, 6) buffer touches element (3, 0), which the
// last row's read must see.
TEST(TaskGraphRules, StridedViewReachesItsLastRow) {
  const Tensor buf = Tensor::zeros(Shape{4, 6});
  TaskGraph g;
  const TaskId w = g.add(access({}, {buf.narrow(1, 0, 3)}));
  const TaskId r = g.add(access({buf.narrow(0, 3, 1)}, {}));
  EXPECT_EQ(deps(g, r), std::set<TaskId>{w});
}

}  // namespace
}  // namespace tandem::testing
