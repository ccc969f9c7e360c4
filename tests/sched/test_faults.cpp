// Injected faults (core/faults.hpp) and what survives them. Device faults: the N-th kernel
// launch, transfer or allocation of the OpenCL backend fails during a training step under the
// fpga policy on PoCL; the step must finish on the CPU fallback with the CPU's loss and
// gradients, and enough failures must mark the device unhealthy. File faults: the N-th atomic
// file write fails just before its rename; the file it would have replaced, and with it the
// previous checkpoint, must stay intact and loadable, and the trainer must report the error.
//
// Bounds as in test_session.cpp: loss within 1e-5 absolute, each gradient within 1e-5 of its
// largest value (the placements only change where conformant ops run).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "backends/opencl/devices.hpp"
#include "core/faults.hpp"
#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"
#include "models/model.hpp"
#include "models/model_fixtures.hpp"  // tests/models
#include "sched/session.hpp"
#include "tandem/error.hpp"
#include "train/checkpoint.hpp"
#include "train/trainer.hpp"

namespace tandem::testing {
namespace {

namespace fs = std::filesystem;
using faults::Point;

bool have_opencl() {
#if TANDEM_HAVE_OPENCL
  return !opencl::list_devices().empty();
#else
  return false;
#endif
}

// Every test starts and ends with no fault scheduled (the schedules are process-wide).
class Faults : public ::testing::Test {
 protected:
  void SetUp() override { clear(); }
  void TearDown() override { clear(); }
  static void clear() {
    for (const Point p : {Point::Launch, Point::Transfer, Point::Allocation, Point::FileWrite}) faults::set_schedule(p, "");
  }
};

// ---------------------------------------------------------------------------------------------
// Device faults

struct StepOutcome {
  float loss = 0;
  std::map<std::string, Tensor> grads;
  sched::ExecutionReport report;
};

// Forward + backward of gpt2-tiny's reference batch under @p policy on the CPU and opencl:0.
// The fault schedule is installed after the session is built so that only the step's own
// launches, transfers and allocations count.
StepOutcome run_step(const std::string& policy, Point point, const std::string& schedule, int max_device_failures) {
  auto model = models::load_model(fixture_dir("gpt2-tiny"));
  const io::SafetensorsReader ref(fixture_dir("gpt2-tiny") / "reference.safetensors");
  sched::SessionOptions o;
  o.devices = {"cpu", "opencl:0"};
  o.policy = policy;
  o.use_history = false;
  o.optimizer = false;
  o.executor.max_device_failures = max_device_failures;
  sched::Session session(*model, o);
  faults::set_schedule(point, schedule);
  StepOutcome out;
  const sched::StepResult r = session.step(reference_batch(ref));
  faults::set_schedule(point, "");
  out.loss = r.loss;
  out.report = r.report;
  for (const models::Parameter& p : model->parameters()) out.grads[p.name] = p.grad.clone();
  return out;
}

void expect_cpu_result(const StepOutcome& got, const StepOutcome& cpu, const std::string& what) {
  EXPECT_NEAR(got.loss, cpu.loss, 1e-5) << what;
  for (const auto& [name, g] : cpu.grads) {
    const Diff d = compare(got.grads.at(name), g);
    EXPECT_LE(d.max_abs, 1e-5 * std::max(d.ref_scale, 1e-3)) << what << " grad " << name;
  }
}

bool any_injected(const sched::ExecutionReport& report) {
  return std::any_of(report.fallbacks.begin(), report.fallbacks.end(),
                     [](const sched::Fallback& f) { return f.error.find("injected fault") != std::string::npos; });
}

// With a high failure threshold a single fault moves only the failed task to the CPU.
TEST_F(Faults, EachKindOfDeviceFaultFallsBackToTheCpuWithTheCpusResult) {
  if (!have_opencl()) GTEST_SKIP() << "no OpenCL device";
  const StepOutcome cpu = run_step("cpu", Point::Launch, "", 1);
  ASSERT_TRUE(cpu.report.fallbacks.empty());
  const std::vector<std::pair<Point, std::string>> cases = {
      {Point::Launch, "1"}, {Point::Launch, "7"}, {Point::Transfer, "3"}, {Point::Allocation, "2"}};
  for (const auto& [point, schedule] : cases) {
    const std::string what = "fault point " + std::to_string(static_cast<int>(point)) + " at " + schedule;
    const StepOutcome got = run_step("fpga", point, schedule, 1000);
    expect_cpu_result(got, cpu, what);
    ASSERT_EQ(got.report.fallbacks.size(), 1u) << what;
    EXPECT_TRUE(any_injected(got.report)) << what << ": " << got.report.fallbacks[0].error;
    ASSERT_EQ(got.report.healthy.size(), 2u);
    EXPECT_TRUE(got.report.healthy[1]) << what;
  }
}

// K = 3: two failed tasks leave the device healthy; failing every launch makes it unhealthy
// after the third, and the rest of the step runs on the CPU with the same result.
TEST_F(Faults, RepeatedDeviceFailuresMarkTheDeviceUnhealthy) {
  if (!have_opencl()) GTEST_SKIP() << "no OpenCL device";
  const StepOutcome cpu = run_step("cpu", Point::Launch, "", 1);

  const StepOutcome two = run_step("fpga", Point::Launch, "1,2", 3);
  expect_cpu_result(two, cpu, "two launch faults");
  EXPECT_EQ(two.report.fallbacks.size(), 2u);
  EXPECT_TRUE(two.report.healthy.at(1));

  const StepOutcome every = run_step("fpga", Point::Launch, "1+", 3);
  expect_cpu_result(every, cpu, "every launch fails");
  EXPECT_FALSE(every.report.healthy.at(1));
  const auto failed = std::count_if(every.report.fallbacks.begin(), every.report.fallbacks.end(),
                                    [](const sched::Fallback& f) { return f.error.find("injected fault") != std::string::npos; });
  EXPECT_EQ(failed, 3) << "launches after the device became unhealthy must not be attempted";
  EXPECT_GT(every.report.fallbacks.size(), 3u) << "the unhealthy device's remaining tasks move too";
  for (const sched::TaskRun& run : every.report.runs) EXPECT_EQ(run.device, 0);
}

// ---------------------------------------------------------------------------------------------
// File faults

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

void write_text(const fs::path& p, const std::string& text) {
  io::write_file_atomically(p, std::as_bytes(std::span<const char>(text.data(), text.size())));
}

TEST_F(Faults, AFailedAtomicWriteLeavesTheOldFileAndNoTemporary) {
  ScratchDir dir("faults-atomic");
  const fs::path file = dir.path() / "state.json";
  write_text(file, "old");
  faults::set_schedule(Point::FileWrite, "1");
  try {
    write_text(file, "new content");
    ADD_FAILURE() << "the injected write fault did not surface";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::Io);
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("injected fault"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_text(file), "old");
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"state.json"});
  write_text(file, "new content");  // the schedule's one fault is spent
  EXPECT_EQ(read_text(file), "new content");
}

struct Checkpointable {
  std::unique_ptr<models::Model> model = models::load_model(fixture_dir("gpt2-tiny"));
  std::vector<Tensor> m, v;
  Checkpointable() {
    for (const models::Parameter& p : model->parameters()) {
      m.push_back(Tensor::zeros(p.value.shape()));
      v.push_back(Tensor::zeros(p.value.shape()));
    }
  }
  train::Moments moments() { return {m, v}; }
};

std::map<std::string, std::string> file_bytes(const fs::path& dir) {
  std::map<std::string, std::string> bytes;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) bytes[e.path().filename().string()] = read_text(e.path());
  return bytes;
}

// The checkpoint of step 4 fails at its first, second or third file; the one of step 2 keeps
// every byte, is still the latest, and loads with its own values.
TEST_F(Faults, AFailedCheckpointWriteLeavesThePreviousCheckpointIntactAndLoadable) {
  for (const char* schedule : {"1", "2", "3"}) {
    ScratchDir out("faults-checkpoint");
    Checkpointable run;
    train::TrainerState state;
    state.step = 2;
    state.optimizer_steps = 2;
    state.seed = 7;
    const fs::path second = train::save_checkpoint(out.path(), *run.model, run.moments(), state, 5);
    const std::map<std::string, std::string> before = file_bytes(second);
    const Tensor wte_before = run.model->parameters().front().value.clone();

    for (models::Parameter& p : run.model->parameters()) p.value.fill(0.5f);
    state.step = 4;
    faults::set_schedule(Point::FileWrite, schedule);
    EXPECT_THROW(train::save_checkpoint(out.path(), *run.model, run.moments(), state, 5), Error) << schedule;
    faults::set_schedule(Point::FileWrite, "");

    EXPECT_EQ(train::list_checkpoints(out.path()), std::vector<fs::path>{second}) << schedule;
    EXPECT_EQ(entries(out.path()), std::vector<std::string>{second.filename().string()})
        << "fault at file " << schedule << " left something behind";
    EXPECT_EQ(file_bytes(second), before) << schedule;
    Checkpointable fresh;
    const train::TrainerState loaded = train::load_checkpoint(second, *fresh.model, fresh.moments());
    EXPECT_EQ(loaded.step, 2);
    EXPECT_EQ(loaded.seed, 7u);
    const Diff d = compare(fresh.model->parameters().front().value, wte_before);
    EXPECT_EQ(d.max_abs, 0.0) << schedule;
  }
}

// A run that checkpoints every 2 steps: the checkpoint of step 4 cannot be written. The run
// must end with that error (not carry on as if the step were saved), and checkpoint-2 must be
// the latest and load.
TEST_F(Faults, TheTrainerReportsAFailedCheckpointAndKeepsThePreviousOne) {
  ScratchDir out("faults-trainer");
  train::TrainConfig c;
  c.model = fixture_dir("gpt2-tiny").string();
  c.data = (fixture_dir("gpt2-tiny") / "eval_multi.ids").string();
  c.out = (out.path() / "run").string();
  c.steps = 4;
  c.save_every = 2;
  c.keep = 5;
  c.batch = 2;
  c.seq = 16;
  c.lr = 1e-3;
  c.devices = "cpu";
  c.policy = "cpu";
  c.no_history = true;
  std::map<std::string, std::string> saved;
  train::TrainCallbacks callbacks;
  callbacks.on_step = [&](const train::StepMetrics& m, std::int64_t) {
    if (m.step != 3) return;
    const auto latest = train::latest_checkpoint(c.out);
    if (latest) saved = file_bytes(*latest);
    faults::set_schedule(Point::FileWrite, "1+");
  };
  train::Trainer trainer(c, callbacks);
  try {
    (void)trainer.run();
    ADD_FAILURE() << "the run ended without reporting the failed checkpoint";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("injected fault"), std::string::npos) << e.what();
  }
  faults::set_schedule(Point::FileWrite, "");
  const auto latest = train::latest_checkpoint(c.out);
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->filename(), train::list_checkpoints(c.out).back().filename());
  EXPECT_EQ(train::read_trainer_state(*latest).step, 2);
  EXPECT_FALSE(saved.empty());
  EXPECT_EQ(file_bytes(*latest), saved);
  Checkpointable fresh;
  EXPECT_NO_THROW((void)train::load_checkpoint(*latest, *fresh.model, fresh.moments()));
}

}  // namespace
}  // namespace tandem::testing
