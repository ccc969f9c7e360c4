// The C API (tandem/tandem.h) driven from C by c_api_flows.c: NULL arguments, a missing model
// directory, bad settings, and the fine-tuning flow of examples/api/c, whose losses must equal
// those of the same run made through the C++ API.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "c_api_flows.h"
#include "models/model_fixtures.hpp"  // tests/models: ScratchDir
#include "tandem/tandem.hpp"
#include "test_api_support.hpp"

namespace tandem::testing {
namespace {

namespace fs = std::filesystem;

#define EXPECT_FLOW_PASSES(call)            \
  do {                                      \
    const char* failure_ = (call);          \
    EXPECT_EQ(failure_, nullptr) << failure_; \
  } while (0)

TEST(CApi, VersionIsTheProjectVersion) {
  EXPECT_STREQ(tandem_version(), TANDEM_EXPECTED_VERSION);
}

TEST(CApi, NullArgumentsAreInvalidArguments) { EXPECT_FLOW_PASSES(c_null_arguments()); }

TEST(CApi, MissingModelDirectoryIsAnIoErrorNamingIt) {
  ScratchDir scratch("api-c-missing");
  EXPECT_FLOW_PASSES(c_missing_model_dir((scratch.path() / "no-such-model").c_str()));
}

TEST(CApi, BadSettingsFailWhenSet) { EXPECT_FLOW_PASSES(c_bad_options()); }

TEST(CApi, LastErrorIsPerThread) {
  tandem_model* model = nullptr;
  ASSERT_EQ(tandem_model_load(nullptr, &model), TANDEM_ERROR_INVALID_ARGUMENT);
  std::string other;
  std::thread([&] { other = tandem_last_error(); }).join();
  EXPECT_EQ(other, "");
  EXPECT_NE(std::string(tandem_last_error()), "");
}

// Losses against Hugging Face's (tests/fixtures/make_reference.py); the count by hand, as in
// test_api.cpp: wte 6400 + wpe 2048 + ln_f 128 + 2 layers of 49984.
TEST(CApi, ModelCountsEvaluatesAndSaves) {
  ScratchDir scratch("api-c-save");
  std::int64_t count = 0, saved_count = 0;
  double loss = 0, saved_loss = 0;
  EXPECT_FLOW_PASSES(c_save_and_reload(gpt2_dir().c_str(), (scratch.path() / "copy").c_str(), train_data().c_str(),
                                       &count, &loss, &saved_count, &saved_loss));
  EXPECT_EQ(count, 6400 + 2048 + 128 + 2 * 49984);
  EXPECT_EQ(saved_count, count);
  EXPECT_NEAR(loss, reference_loss("eval_multi.ids"), 1e-5);
  EXPECT_EQ(saved_loss, loss);
}

// The C flow on the CPU and the same run through the C++ API: equal losses (both are the
// deterministic CPU policy), an adapter with rank 4, and the trained model's loss.
TEST(CApi, FinetuneMatchesTheCppApi) {
  ScratchDir scratch("api-c-finetune");
  const fs::path adapter = scratch.path() / "adapter";
  double losses[8] = {};
  std::size_t count = 0;
  double eval_loss = 0;
  EXPECT_FLOW_PASSES(c_finetune(gpt2_dir().c_str(), train_data().c_str(), (scratch.path() / "c").c_str(),
                                adapter.c_str(), "cpu", "cpu", 3, losses, 8, &count, &eval_loss));
  ASSERT_EQ(count, 3u);

  Trainer trainer(Model::load(gpt2_dir()), lora_options(scratch.path() / "cpp", {"cpu"}, "cpu"));
  const TrainReport report = trainer.run();
  ASSERT_EQ(report.losses.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(losses[i], report.losses[i]) << "step " << i + 1;
  EXPECT_EQ(eval_loss, trainer.model().evaluate(train_data(), {.batch = 2}));

  std::ifstream config(adapter / "adapter_config.json");
  ASSERT_TRUE(config.good()) << adapter;
  EXPECT_EQ(nlohmann::json::parse(config).at("r"), 4);
  EXPECT_TRUE(fs::is_regular_file(adapter / "adapter_model.safetensors"));
}

// The examples' default: CPU and the OpenCL device under heft.
TEST(CApi, FinetuneOnCpuAndOpenclUnderHeft) {
  if (!have_opencl_device()) GTEST_SKIP() << "no OpenCL device";
  ScratchDir scratch("api-c-heft");
  double losses[8] = {};
  std::size_t count = 0;
  double eval_loss = 0;
  EXPECT_FLOW_PASSES(c_finetune(gpt2_dir().c_str(), train_data().c_str(), (scratch.path() / "out").c_str(),
                                (scratch.path() / "adapter").c_str(), "cpu,opencl", "heft", 3, losses, 8, &count,
                                &eval_loss));
  ASSERT_EQ(count, 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_TRUE(std::isfinite(losses[i]));
  // Three steps at lr 1e-2 on the evaluated data itself lower its loss from the base model's.
  EXPECT_LT(eval_loss, reference_loss("eval_multi.ids"));
}

}  // namespace
}  // namespace tandem::testing
