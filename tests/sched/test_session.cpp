// One training step of a real model (the 2-layer GPT-2 and BERT fixtures) under every
// policy: the same loss, gradients and updated weights as the CPU alone, a placement reused
// while shapes stay the same, and CPU fallback when the device fails mid-step.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "backends/opencl/devices.hpp"
#include "io/safetensors.hpp"
#include "models/model.hpp"
#include "models/model_fixtures.hpp"  // tests/models
#include "sched/session.hpp"

namespace tandem::testing {
namespace {

bool have_opencl() {
#if TANDEM_HAVE_OPENCL
  return !opencl::list_devices().empty();
#else
  return false;
#endif
}

constexpr float kLr = 1e-3f;

struct StepOutcome {
  float loss = 0;
  std::map<std::string, Tensor> grads, values;
  sched::StepResult result;
};

// One step of @p fixture's model on its reference batch under @p policy, on the CPU and the
// first OpenCL device.
StepOutcome run_step(const std::string& fixture, const std::string& policy, bool optimizer,
                     const sched::ExecutorOptions& executor = {}) {
  auto model = models::load_model(fixture_dir(fixture));
  const io::SafetensorsReader ref(fixture_dir(fixture) / "reference.safetensors");
  sched::SessionOptions o;
  o.devices = {"cpu", "opencl:0"};
  o.policy = policy;
  o.use_history = false;
  o.fpga_model = "u280";  // plan from the card model: no calibration run, deterministic plans
  o.bitstream_dir = TANDEM_BITSTREAMS;
  o.optimizer = optimizer;
  o.adamw.lr = kLr;
  o.adamw.weight_decay = 0.01f;
  o.executor = executor;
  sched::Session session(*model, o);
  StepOutcome out;
  out.result = session.step(reference_batch(ref));
  out.loss = out.result.loss;
  for (const models::Parameter& p : model->parameters()) {
    out.grads[p.name] = p.grad.clone();
    out.values[p.name] = p.value.clone();
  }
  return out;
}

// The placements change only where ops run, and every op meets its conformance bound on
// every device; through a 2-layer model that stays within the parity bounds against PyTorch:
// loss 1e-5 absolute, each gradient 1e-5 of its largest value. Updated weights get the same
// bound, except where the gradient is rounding noise: the key bias (softmax ignores a shift
// shared by all keys, so its true gradient is 0) has gradients of ~1e-10 that differ between
// devices, and AdamW's first step moves a weight by lr·g/(|g| + eps) — up to lr either way —
// whatever the size of g. There the bound is 2·lr.
void expect_same_step(const StepOutcome& got, const StepOutcome& want, const std::string& what) {
  EXPECT_NEAR(got.loss, want.loss, 1e-5) << what;
  for (const auto& [name, g] : want.grads) {
    const Diff d = compare(got.grads.at(name), g);
    EXPECT_LE(d.max_abs, 1e-5 * std::max(d.ref_scale, 1e-3)) << what << " grad " << name;
  }
  double grad_scale = 0;  // the largest gradient of the model
  for (const auto& [name, g] : want.grads) grad_scale = std::max(grad_scale, compare(g, g).ref_scale);
  for (const auto& [name, v] : want.values) {
    const Tensor& gv = got.values.at(name);
    const Tensor& grad = want.grads.at(name);
    const double scale = std::max(compare(v, v).ref_scale, 1e-3);
    int bad = 0;
    for (std::int64_t i = 0; i < v.numel(); ++i) {
      const bool noise = std::abs(grad.data<float>()[i]) <= 1e-6 * grad_scale;
      const double tol = 1e-5 * scale + (noise ? 2.0 * kLr : 0.0);
      bad += std::abs(double(gv.data<float>()[i]) - double(v.data<float>()[i])) > tol;
    }
    EXPECT_EQ(bad, 0) << what << " value " << name;
  }
}

class Policies : public ::testing::TestWithParam<std::string> {};

TEST_P(Policies, EveryPolicyGivesTheCpuStep) {
  if (!have_opencl()) GTEST_SKIP() << "no OpenCL device";
  // One file per process: ctest runs the parameters as concurrent processes.
  const std::filesystem::path rules =
      std::filesystem::temp_directory_path() / ("tandem-test-rules-" + std::to_string(::getpid()) + ".txt");
  std::ofstream(rules) << "# GEMMs of layer 1 and all of the backward pass on the card\n"
                          "ops=gemm layers=1-1 phases=forward -> opencl:0\n"
                          "phases=backward -> opencl:0\n";
  for (const bool optimizer : {false, true}) {
    const StepOutcome cpu = run_step(GetParam(), "cpu", optimizer);
    for (const std::string& policy : std::vector<std::string>{"fpga", "heft", "rules:" + rules.string()}) {
      const StepOutcome got = run_step(GetParam(), policy, optimizer);
      expect_same_step(got, cpu, GetParam() + " " + policy + (optimizer ? " with AdamW" : ""));
      EXPECT_TRUE(got.result.report.fallbacks.empty()) << policy;
    }
  }
  std::filesystem::remove(rules);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Policies, ::testing::Values("gpt2-tiny", "bert-tiny-cls"),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string n = p.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(Session, FpgaPolicyPutsEveryDeviceOpOnTheCardAndHostWorkOnTheCpu) {
  if (!have_opencl()) GTEST_SKIP() << "no OpenCL device";
  auto model = models::load_model(fixture_dir("gpt2-tiny"));
  const io::SafetensorsReader ref(fixture_dir("gpt2-tiny") / "reference.safetensors");
  sched::SessionOptions o;
  o.devices = {"opencl:0"};
  o.policy = "fpga";
  o.use_history = false;
  sched::Session session(*model, o);
  const sched::StepResult first = session.step(reference_batch(ref));
  EXPECT_TRUE(first.replanned);
  for (const graph::Task& t : session.graph().tasks())
    EXPECT_EQ(session.placement().tasks[t.id].device, t.host_only ? 0 : 1) << t.name;
  // Same shapes: the plan is reused.
  EXPECT_FALSE(session.step(reference_batch(ref)).replanned);
}

TEST(Session, HeftTimesUnmeasuredOpsInAFirstCalibrationStep) {
  if (!have_opencl()) GTEST_SKIP() << "no OpenCL device";
  auto model = models::load_model(fixture_dir("gpt2-tiny"));
  const io::SafetensorsReader ref(fixture_dir("gpt2-tiny") / "reference.safetensors");
  sched::SessionOptions o;
  o.devices = {"opencl:0"};
  o.use_history = false;  // nothing measured yet
  sched::Session session(*model, o);
  const sched::StepResult first = session.step(reference_batch(ref));
  EXPECT_TRUE(first.calibrated);
  for (const graph::Task& t : session.graph().tasks())
    for (int d = 0; d < 2; ++d) EXPECT_FALSE(session.cost().needs_measurement(t, d)) << t.name;
  const sched::StepResult second = session.step(reference_batch(ref));
  EXPECT_FALSE(second.calibrated);
  EXPECT_TRUE(second.replanned);
  for (const sched::TaskPlacement& p : session.placement().tasks) EXPECT_FALSE(p.modeled);
}

TEST(Session, DeviceFailureMidStepFallsBackToTheCpuWithTheSameResult) {
  if (!have_opencl()) GTEST_SKIP() << "no OpenCL device";
  const StepOutcome cpu = run_step("gpt2-tiny", "cpu", true);
  for (const std::uint64_t n : {1u, 17u, 60u}) {
    sched::ExecutorOptions e;
    e.fail_device_task = n;
    const StepOutcome got = run_step("gpt2-tiny", "fpga", true, e);
    expect_same_step(got, cpu, "fault at device launch " + std::to_string(n));
    EXPECT_FALSE(got.result.report.fallbacks.empty());
  }
}

}  // namespace
}  // namespace tandem::testing
