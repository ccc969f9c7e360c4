// The trainer: learning-rate schedule formulas (hand-derived values), the config file and its
// errors, gradient accumulation and clipping in the session (against a single big batch and
// ops::grad_norm), that fine-tuning reduces the loss, bitwise reproducibility on the CPU and
// under the fpga policy (PoCL), and resume == uninterrupted, bitwise.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "backends/registry.hpp"
#include "models/model.hpp"
#include "models/model_fixtures.hpp"  // tests/models
#include "sched/session.hpp"
#include "tandem/error.hpp"
#include "tandem/ops.hpp"
#include "train/checkpoint.hpp"
#include "train/schedule.hpp"
#include "train/trainer.hpp"

#if TANDEM_HAVE_OPENCL
#include "backends/opencl/devices.hpp"
#endif

namespace tandem::testing {
namespace {

using train::Decay;
using train::learning_rate;
using train::Schedule;

TEST(Schedule, WarmupThenCosine) {
  const Schedule s{1.0, 2, 6, Decay::Cosine, 0.0};
  // Warmup s/W; then p = (s-W-1)/(S-W) and 0.5(1+cos(pi p)).
  EXPECT_DOUBLE_EQ(learning_rate(s, 1), 0.5);
  EXPECT_DOUBLE_EQ(learning_rate(s, 2), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate(s, 3), 1.0);
  EXPECT_NEAR(learning_rate(s, 4), (1 + std::sqrt(0.5)) / 2, 1e-12);  // p = 1/4
  EXPECT_NEAR(learning_rate(s, 5), 0.5, 1e-12);                       // p = 1/2
  EXPECT_NEAR(learning_rate(s, 6), (1 - std::sqrt(0.5)) / 2, 1e-12);  // p = 3/4
  EXPECT_DOUBLE_EQ(learning_rate(s, 60), learning_rate(s, 6));
}

TEST(Schedule, LinearConstantAndFloor) {
  const Schedule lin{2.0, 0, 4, Decay::Linear, 0.0};
  EXPECT_DOUBLE_EQ(learning_rate(lin, 1), 2.0);
  EXPECT_DOUBLE_EQ(learning_rate(lin, 2), 1.5);
  EXPECT_DOUBLE_EQ(learning_rate(lin, 4), 0.5);
  const Schedule floor{1.0, 0, 3, Decay::Cosine, 0.1};
  EXPECT_NEAR(learning_rate(floor, 2), 0.1 + 0.9 * 0.75, 1e-12);  // p = 1/3: (1+cos(pi/3))/2 = 0.75
  const Schedule constant{3.0, 4, 10, Decay::Constant, 0.0};
  EXPECT_DOUBLE_EQ(learning_rate(constant, 2), 1.5);
  EXPECT_DOUBLE_EQ(learning_rate(constant, 9), 3.0);
  EXPECT_THROW((void)train::parse_decay("exp"), Error);
  EXPECT_THROW(train::validate(Schedule{0.0, 0, 1, Decay::Cosine, 0}), Error);
  EXPECT_THROW(train::validate(Schedule{1.0, -1, 1, Decay::Cosine, 0}), Error);
}

TEST(Config, JsonFileOverridesDefaultsAndRejectsUnknownKeys) {
  ScratchDir dir("t2-config");
  const auto file = dir.path() / "run.json";
  std::ofstream(file) << R"({"steps": 7, "lr": 0.002, "devices": "cpu,opencl:0", "skip_nonfinite": true,
                            "lora_targets": ["c_attn"], "seed": 42})";
  const train::TrainConfig c = train::load_config_file(file);
  EXPECT_EQ(c.steps, 7);
  EXPECT_DOUBLE_EQ(c.lr, 0.002);
  EXPECT_EQ(c.devices, "cpu,opencl:0");
  EXPECT_TRUE(c.skip_nonfinite);
  EXPECT_EQ(c.lora_targets, std::vector<std::string>{"c_attn"});
  EXPECT_EQ(c.seed, 42u);
  EXPECT_EQ(c.batch, train::TrainConfig{}.batch);  // untouched keys keep the defaults

  const train::TrainConfig back = train::config_from_json(train::to_json(c), {}, "x");
  EXPECT_EQ(train::to_json(back), train::to_json(c));

  std::ofstream(file) << R"({"stepz": 7})";
  EXPECT_THROW((void)train::load_config_file(file), Error);
  std::ofstream(file) << R"({"steps": 1.5})";
  EXPECT_THROW((void)train::load_config_file(file), Error);
  std::ofstream(file) << R"({"steps": )";
  EXPECT_THROW((void)train::load_config_file(file), Error);
  EXPECT_THROW((void)train::load_config_file(dir.path() / "missing.json"), Error);
}

// A repetitive corpus a tiny model learns quickly: counting runs modulo 50.
std::string write_corpus(const std::filesystem::path& dir, int lines) {
  std::mt19937 rng(7);
  std::ofstream out(dir / "corpus.ids");
  for (int i = 0; i < lines; ++i) {
    const auto start = static_cast<unsigned>(rng() % 20);
    for (unsigned j = 0; j < 33; ++j) out << (start + j) % 50 + 1 << (j + 1 < 33 ? ' ' : '\n');
  }
  return (dir / "corpus.ids").string();
}

train::TrainConfig tiny_config(const std::filesystem::path& dir, const std::string& out) {
  train::TrainConfig c;
  c.model = fixture_dir("gpt2-tiny").string();
  c.data = write_corpus(dir, 40);
  c.out = (dir / out).string();
  c.steps = 6;
  c.batch = 4;
  c.seq = 16;
  c.lr = 3e-3;
  c.warmup = 1;
  c.policy = "cpu";
  c.no_history = true;
  c.seed = 3;
  return c;
}

std::vector<double> losses(const train::TrainResult& r) {
  std::vector<double> out;
  for (const train::StepMetrics& m : r.metrics) out.push_back(m.loss);
  return out;
}

TEST(Trainer, FullFineTuningReducesTheTrainingLoss) {
  ScratchDir dir("t2-reduce");
  train::TrainConfig c = tiny_config(dir.path(), "out");
  c.steps = 30;
  const train::TrainResult r = train::Trainer(c).run();
  ASSERT_EQ(r.metrics.size(), 30u);
  double tail = 0;
  for (std::size_t i = 25; i < 30; ++i) tail += r.metrics[i].loss / 5;
  EXPECT_LT(tail, r.metrics[0].loss - 1.0) << "first " << r.metrics[0].loss << " last five " << tail;
  EXPECT_TRUE(std::filesystem::exists(r.final_dir / "model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(r.loss_svg));
  EXPECT_TRUE(std::filesystem::exists(r.timeline_svg));
}

TEST(Trainer, SameRunTwiceGivesBitwiseEqualLossesOnTheCpu) {
  ScratchDir dir("t2-repeat");
  train::TrainConfig c = tiny_config(dir.path(), "a");
  c.accum = 2;
  const std::vector<double> a = losses(train::Trainer(c).run());
  c.out = (dir.path() / "b").string();
  const std::vector<double> b = losses(train::Trainer(c).run());
  EXPECT_EQ(a, b);
}

bool have_opencl() {
#if TANDEM_HAVE_OPENCL
  return !opencl::list_devices().empty();
#else
  return false;
#endif
}

TEST(Trainer, SameRunTwiceGivesBitwiseEqualLossesUnderTheFpgaPolicy) {
  if (!have_opencl()) GTEST_SKIP() << "no OpenCL device";
  ScratchDir dir("t2-repeat-fpga");
  train::TrainConfig c = tiny_config(dir.path(), "a");
  c.steps = 3;
  c.devices = "cpu,opencl:0";
  c.policy = "fpga";
  const std::vector<double> a = losses(train::Trainer(c).run());
  c.out = (dir.path() / "b").string();
  const std::vector<double> b = losses(train::Trainer(c).run());
  EXPECT_EQ(a, b);
  EXPECT_LT(a.back(), a.front());
}

TEST(Trainer, ResumedRunEqualsTheUninterruptedOneBitwise) {
  ScratchDir dir("t2-resume");
  train::TrainConfig c = tiny_config(dir.path(), "full");
  c.save_every = 3;
  c.accum = 2;
  c.keep = 5;
  const std::vector<double> full = losses(train::Trainer(c).run());
  ASSERT_EQ(full.size(), 6u);

  train::TrainConfig resumed = c;
  resumed.resume = (dir.path() / "full" / "checkpoint-3").string();
  resumed.out = (dir.path() / "resumed").string();
  train::Trainer trainer(resumed);
  const train::TrainResult r = trainer.run();
  EXPECT_EQ(r.first_step, 4);
  EXPECT_EQ(losses(r), full);  // steps 1-3 restored from the checkpoint, 4-6 recomputed

  train::TrainConfig other = resumed;
  other.batch = 2;
  EXPECT_THROW(train::Trainer{other}, Error);  // a different data order cannot resume
}

// Accumulating two micro-batches gives the gradient of their concatenation: the same mean
// loss and the same global norm (equal token counts), up to float summation order.
TEST(Session, AccumulationAveragesAndClippingScalesTheGradients) {
  auto model = models::load_model(fixture_dir("gpt2-tiny"));
  ScratchDir dir("t2-accum");
  std::vector<std::int32_t> ids(4 * 8), targets(4 * 8);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    ids[i] = static_cast<std::int32_t>((i * 7) % 97);
    targets[i] = static_cast<std::int32_t>((i * 7 + 3) % 97);
  }
  const auto batch_of = [&](std::size_t first, std::int64_t rows) {
    data::Batch b;
    const std::size_t n = static_cast<std::size_t>(rows) * 8;
    b.ids = Tensor::from(std::span<const std::int32_t>(ids.data() + first, n), Shape{rows, 8});
    b.targets = Tensor::from(std::span<const std::int32_t>(targets.data() + first, n), Shape{rows, 8});
    return b;
  };
  // Reference: one batch of 4 rows, forward + backward on the CPU.
  auto cpu = open_backend("cpu");
  model->zero_grad();
  const float big_loss = model->forward(batch_of(0, 4), *cpu);
  model->backward(*cpu);
  std::vector<Tensor> ref_grads;
  for (const models::Parameter& p : model->parameters()) ref_grads.push_back(p.grad.clone());
  const double ref_norm = ops::grad_norm(ref_grads);

  sched::SessionOptions o;
  o.policy = "cpu";
  o.use_history = false;
  sched::Session session(*model, o);
  const std::vector<data::Batch> micro = {batch_of(0, 2), batch_of(16, 2)};
  const float max_norm = static_cast<float>(ref_norm / 4);
  const sched::TrainStepResult r = session.train_step(micro, {1e-3f, max_norm});
  ASSERT_TRUE(r.applied);
  ASSERT_EQ(r.micro_losses.size(), 2u);
  EXPECT_NEAR(r.loss, big_loss, 1e-5 * std::abs(big_loss));
  EXPECT_NEAR(r.grad_norm, ref_norm, 1e-5 * ref_norm);
  // The gradients left in the parameters are the clipped ones: norm max_norm, direction kept.
  std::vector<Tensor> grads;
  for (const models::Parameter& p : model->parameters()) grads.push_back(p.grad);
  EXPECT_NEAR(ops::grad_norm(grads), max_norm, 1e-5 * max_norm);
  std::int64_t big = 0;
  const float* ref0 = ref_grads[0].data<float>();
  for (std::int64_t i = 1; i < ref_grads[0].numel(); ++i)
    if (std::abs(ref0[i]) > std::abs(ref0[big])) big = i;
  EXPECT_NEAR(grads[0].data<float>()[big] / ref0[big], 0.25f, 1e-4f);
  EXPECT_EQ(session.optimizer_steps(), 1);
}

}  // namespace
}  // namespace tandem::testing
