// Checkpoints: a save/load round trip restores parameters, moments and state exactly; only
// the last K are kept; incomplete or hidden directories are never taken for checkpoints; a
// missing tensor is an Io error; and SIGKILL of the real CLI while it writes a checkpoint
// leaves the previous one loadable.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "io/safetensors.hpp"
#include "models/model.hpp"
#include "models/model_fixtures.hpp"  // tests/models
#include "tandem/error.hpp"
#include "train/checkpoint.hpp"

namespace tandem::testing {
namespace {
namespace fs = std::filesystem;

struct Moms {
  std::vector<Tensor> m, v;
  train::Moments ref() { return {m, v}; }
};

// Moments of @p model's shapes with distinct values derived from @p salt.
Moms moments_for(models::Model& model, float salt) {
  Moms out;
  for (const models::Parameter& p : model.parameters()) {
    out.m.push_back(Tensor::zeros(p.value.shape()));
    out.v.push_back(Tensor::zeros(p.value.shape()));
    float* m = out.m.back().data<float>();
    float* v = out.v.back().data<float>();
    for (std::int64_t i = 0; i < p.value.numel(); ++i) {
      m[i] = salt * static_cast<float>(i % 13);
      v[i] = salt + static_cast<float>(i % 7);
    }
  }
  return out;
}

train::TrainerState state_at(std::int64_t step) {
  train::TrainerState s;
  s.step = step;
  s.optimizer_steps = step;
  s.config = {{"lr", 0.5}};
  s.position = {2, 3};
  s.seed = 99;
  train::StepMetrics m;
  m.step = step;
  m.loss = 1.25;
  m.eval_loss = 2.5;
  m.devices = {{"cpu", 0.75, 1.0}};
  s.metrics.push_back(m);
  return s;
}

bool equal_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data<float>(), b.data<float>(), a.nbytes()) == 0;
}

TEST(Checkpoint, RoundTripRestoresParametersMomentsAndState) {
  ScratchDir dir("t2-ckpt");
  auto model = models::load_model(fixture_dir("gpt2-tiny"));
  model->parameters()[0].value.data<float>()[0] = 0.125f;
  Moms saved = moments_for(*model, 0.5f);
  const fs::path ckpt = train::save_checkpoint(dir.path(), *model, saved.ref(), state_at(4), 2);
  EXPECT_EQ(ckpt, dir.path() / "checkpoint-4");

  auto fresh = models::load_model(fixture_dir("gpt2-tiny"));
  Moms loaded = moments_for(*fresh, 0.0f);
  const train::TrainerState st = train::load_checkpoint(ckpt, *fresh, loaded.ref());
  EXPECT_EQ(st.step, 4);
  EXPECT_EQ(st.position, (data::Position{2, 3}));
  EXPECT_EQ(st.seed, 99u);
  EXPECT_EQ(st.config, (nlohmann::json{{"lr", 0.5}}));
  ASSERT_EQ(st.metrics.size(), 1u);
  EXPECT_EQ(st.metrics[0].eval_loss, 2.5);
  EXPECT_EQ(st.metrics[0].devices[0].busy_share, 0.75);
  for (std::size_t i = 0; i < saved.m.size(); ++i) {
    EXPECT_TRUE(equal_bits(fresh->parameters()[i].value, model->parameters()[i].value)) << i;
    EXPECT_TRUE(equal_bits(loaded.m[i], saved.m[i])) << i;
    EXPECT_TRUE(equal_bits(loaded.v[i], saved.v[i])) << i;
  }
}

TEST(Checkpoint, KeepsTheLastKAndIgnoresIncompleteDirectories) {
  ScratchDir dir("t2-keep");
  auto model = models::load_model(fixture_dir("gpt2-tiny"));
  Moms moms = moments_for(*model, 1.0f);
  for (std::int64_t step : {1, 2, 3, 4}) (void)train::save_checkpoint(dir.path(), *model, moms.ref(), state_at(step), 2);
  EXPECT_EQ(train::list_checkpoints(dir.path()),
            (std::vector<fs::path>{dir.path() / "checkpoint-3", dir.path() / "checkpoint-4"}));
  fs::create_directories(dir.path() / "checkpoint-9");             // no trainer_state.json
  fs::create_directories(dir.path() / ".checkpoint-10.tmp-1");     // an interrupted write
  std::ofstream(dir.path() / ".checkpoint-10.tmp-1" / "trainer_state.json") << "{}";
  EXPECT_EQ(train::latest_checkpoint(dir.path()), dir.path() / "checkpoint-4");
  EXPECT_FALSE(train::latest_checkpoint(dir.path() / "nothing").has_value());
}

TEST(Checkpoint, MissingTensorIsAnIoErrorNamingTheFile) {
  ScratchDir dir("t2-missing");
  auto model = models::load_model(fixture_dir("gpt2-tiny"));
  Moms moms = moments_for(*model, 1.0f);
  const fs::path ckpt = train::save_checkpoint(dir.path(), *model, moms.ref(), state_at(1), 1);
  io::write_safetensors(ckpt / "optimizer.safetensors", std::vector<std::pair<std::string, Tensor>>{});
  try {
    (void)train::load_checkpoint(ckpt, *model, moms.ref());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::Io);
    EXPECT_NE(std::string(e.what()).find("optimizer.safetensors"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)train::read_trainer_state(dir.path() / "checkpoint-77"), Error);
}

// Runs the CLI, waits until it is inside the write of checkpoint 2 (the test hook makes that
// write sleep), kills it with SIGKILL, and loads what is left.
TEST(Checkpoint, SigkillDuringAWriteLeavesThePreviousCheckpointLoadable) {
  ScratchDir dir("t2-kill");
  {
    std::ofstream corpus(dir.path() / "corpus.ids");
    for (int line = 0; line < 20; ++line)
      for (int j = 0; j < 17; ++j) corpus << (line + j) % 40 + 1 << (j < 16 ? ' ' : '\n');
  }
  const fs::path out = dir.path() / "out";
  const std::string model = fixture_dir("gpt2-tiny").string();
  const std::string data = (dir.path() / "corpus.ids").string();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setenv("TANDEM_TEST_CHECKPOINT_SLEEP", "2:30000", 1);
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::execl(TANDEM_CLI, TANDEM_CLI, "finetune", "--model", model.c_str(), "--data", data.c_str(), "--out",
            out.c_str(), "--steps", "3", "--batch", "2", "--seq", "16", "--save-every", "1", "--policy", "cpu",
            "--no-history", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  bool writing = false;
  for (int i = 0; i < 600 && !writing; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator(out, ec))
      if (e.path().filename().string().rfind(".checkpoint-2.tmp", 0) == 0 && fs::exists(e.path() / "model.safetensors"))
        writing = true;
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(writing) << "the CLI never reached the write of checkpoint 2";
  ASSERT_TRUE(WIFSIGNALED(status));

  const auto latest = train::latest_checkpoint(out);
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(*latest, out / "checkpoint-1");
  EXPECT_FALSE(fs::exists(out / "checkpoint-2"));
  auto fresh = models::load_model(fixture_dir("gpt2-tiny"));
  Moms moms = moments_for(*fresh, 0.0f);
  const train::TrainerState st = train::load_checkpoint(*latest, *fresh, moms.ref());
  EXPECT_EQ(st.step, 1);
  EXPECT_EQ(st.optimizer_steps, 1);
}

}  // namespace
}  // namespace tandem::testing
