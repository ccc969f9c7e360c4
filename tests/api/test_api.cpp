// The C++ API (tandem/tandem.hpp): devices, loading and evaluating a model against Hugging
// Face's losses (tests/fixtures/make_reference.py), parameter counts derived by hand from the
// fixture's config, errors and their categories, and a LoRA fine-tuning run checked against the
// internal trainer given the same settings, the reference loss before training, and the PEFT
// adapter and merged checkpoint it writes.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/model_fixtures.hpp"  // tests/models: ScratchDir
#include "tandem/tandem.hpp"
#include "test_api_support.hpp"
#include "train/trainer.hpp"

#if TANDEM_HAVE_OPENCL
#include "backends/opencl/devices.hpp"
#endif

namespace tandem::testing {
namespace {

namespace fs = std::filesystem;

// Losses are O(1) and computed in f32 with f64 sums (tests/cli/test_model_commands.cpp).
constexpr double kLossBound = 1e-5;

// gpt2-tiny: V = 100, P = 32, C = 64, 2 layers, MLP 4C, tied LM head.
//   wte V·C = 6400, wpe P·C = 2048, ln_f 2C = 128; per layer: ln_1, ln_2 2C each, c_attn C·3C + 3C,
//   attn c_proj C·C + C, c_fc C·4C + 4C, mlp c_proj 4C·C + C = 128+128+12480+4160+16640+16448.
constexpr std::int64_t kGpt2TinyParameters = 6400 + 2048 + 128 + 2 * (128 + 128 + 12480 + 4160 + 16640 + 16448);
// LoRA rank 4 on c_attn, attn c_proj, c_fc, mlp c_proj: A (in, 4) + B (4, out) each, per layer
//   (64+192)·4 + (64+64)·4 + (64+256)·4 + (256+64)·4.
constexpr std::int64_t kLoraRank4Parameters = 2 * 4 * ((64 + 192) + (64 + 64) + (64 + 256) + (256 + 64));

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The internal trainer's losses for what lora_options() means, written out by hand.
std::vector<double> internal_losses(const fs::path& out) {
  train::TrainConfig c;
  c.model = gpt2_dir().string();
  c.data = train_data().string();
  c.out = out.string();
  c.steps = 3;
  c.batch = 2;
  c.seq = 16;
  c.lr = 1e-2;
  c.lora_rank = 4;
  c.devices = "cpu";
  c.policy = "cpu";
  c.no_history = true;
  train::Trainer trainer(c);
  std::vector<double> losses;
  for (const train::StepMetrics& m : trainer.run().metrics) losses.push_back(m.loss);
  return losses;
}

template <class F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no tandem::Error thrown";
  return Error("none", ErrorCategory::Internal);
}

TEST(Api, VersionIsTheProjectVersion) { EXPECT_STREQ(version(), TANDEM_EXPECTED_VERSION); }

TEST(Api, DevicesListTheCpuThenEveryOpenclDevice) {
  const std::vector<DeviceDescription> devices = list_devices();
  ASSERT_FALSE(devices.empty());
  EXPECT_EQ(devices[0].spec, "cpu");
  EXPECT_EQ(devices[0].kind, "cpu");
  EXPECT_FALSE(devices[0].name.empty());
  std::vector<std::string> opencl_specs;
  for (const DeviceDescription& d : devices) {
    EXPECT_TRUE((std::set<std::string>{"cpu", "fpga", "emulation", "other", "unavailable"}.contains(d.kind))) << d.kind;
    if (d.spec.starts_with("opencl:")) opencl_specs.push_back(d.spec);
  }
#if TANDEM_HAVE_OPENCL
  const auto found = opencl::list_devices();
  ASSERT_EQ(opencl_specs.size(), found.size());
  for (std::size_t i = 0; i < found.size(); ++i) EXPECT_EQ(opencl_specs[i], "opencl:" + std::to_string(i));
#else
  EXPECT_TRUE(opencl_specs.empty());
#endif
}

TEST(Api, LoadedModelDescribesItself) {
  const Model model = Model::load(gpt2_dir());
  EXPECT_EQ(model.family(), "gpt2");
  EXPECT_EQ(model.architecture(), "GPT2LMHeadModel");
  EXPECT_EQ(model.directory(), gpt2_dir());
  EXPECT_EQ(model.parameter_count(), kGpt2TinyParameters);
  EXPECT_EQ(model.trainable_parameter_count(), kGpt2TinyParameters);
}

TEST(Api, EvaluateGivesHuggingFacesLoss) {
  const Model model = Model::load(gpt2_dir());
  EXPECT_NEAR(model.evaluate(gpt2_dir() / "eval.ids"), reference_loss("eval.ids"), kLossBound);
  for (const std::int64_t batch : {1, 2, 8})
    EXPECT_NEAR(model.evaluate(train_data(), {.batch = batch}), reference_loss("eval_multi.ids"), kLossBound)
        << "batch " << batch;
}

TEST(Api, MissingModelDirectoryIsAnIoErrorNamingIt) {
  ScratchDir scratch("api-missing");
  const fs::path dir = scratch.path() / "no-such-model";
  const Error e = error_of([&] { (void)Model::load(dir); });
  EXPECT_EQ(e.category(), ErrorCategory::Io);
  EXPECT_NE(std::string(e.what()).find(dir.string()), std::string::npos) << e.what();
}

TEST(Api, BadSettingsAreInvalidArgumentsNamingTheSetting) {
  ScratchDir scratch("api-settings");
  const Model model = Model::load(gpt2_dir());
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"stepz", "1"}, {"accum", "two"}, {"clip", "1.0x"}, {"merge_lora", "yes"}, {"seed", "-1"}}) {
    TrainOptions o = lora_options(scratch.path(), {"cpu"}, "cpu");
    o.extra[key] = value;
    const Error e = error_of([&] { (void)Trainer(model, o); });
    EXPECT_EQ(e.category(), ErrorCategory::InvalidArgument) << key;
    EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
  }
  TrainOptions no_steps = lora_options(scratch.path(), {"cpu"}, "cpu");
  no_steps.steps = 0;
  EXPECT_EQ(error_of([&] { (void)Trainer(model, no_steps); }).category(), ErrorCategory::InvalidArgument);
  TrainOptions missing_data = lora_options(scratch.path(), {"cpu"}, "cpu");
  missing_data.data = scratch.path() / "none.ids";
  const Error e = error_of([&] { (void)Trainer(model, missing_data); });
  EXPECT_EQ(e.category(), ErrorCategory::Io);
  EXPECT_NE(std::string(e.what()).find("none.ids"), std::string::npos) << e.what();
}

TEST(Api, ExtraSettingsReachTheTrainer) {
  ScratchDir scratch("api-extra");
  TrainOptions o = lora_options(scratch.path(), {"cpu"}, "cpu");
  o.steps = 0;
  o.extra["epochs"] = "2";
  o.extra["lora_targets"] = "c_attn";
  o.extra["batch"] = "1";  // extra wins over the named field
  const Trainer trainer(gpt2_dir(), o);
  // eval_multi.ids at seq 16: windows of 16 predictions over 20, 7 and 45 tokens = 2 + 1 + 3 examples.
  EXPECT_EQ(trainer.total_steps(), 2 * 6);
  // c_attn only: A (64, 4) + B (4, 192) per layer.
  EXPECT_EQ(trainer.model().trainable_parameter_count(), 2 * 4 * (64 + 192));
}

TEST(Api, LoraRunMatchesTheInternalTrainerAndWritesAPeftAdapter) {
  ScratchDir scratch("api-lora");
  const Model base = Model::load(gpt2_dir());
  TrainOptions o = lora_options(scratch.path() / "run", {"cpu"}, "cpu");
  o.eval_data = train_data();
  o.seq = 0;  // the model's 32 positions, the context of the reference loss (the trainer evaluates at seq)
  o.lora_alpha = 8;
  std::vector<std::pair<std::int64_t, double>> seen;
  o.on_step = [&](std::int64_t step, double loss) { seen.emplace_back(step, loss); };
  Trainer trainer(base, o);
  const Model trained = trainer.model();
  EXPECT_EQ(trained.parameter_count(), kGpt2TinyParameters + kLoraRank4Parameters);
  EXPECT_EQ(trained.trainable_parameter_count(), kLoraRank4Parameters);
  EXPECT_EQ(trainer.total_steps(), 3);

  const TrainReport report = trainer.run();
  ASSERT_EQ(report.losses.size(), 3u);
  ASSERT_EQ(seen.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(seen[i].first, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(seen[i].second, report.losses[i]);
  }
  ASSERT_TRUE(report.eval_before && report.eval_after);
  EXPECT_NEAR(*report.eval_before, reference_loss("eval_multi.ids"), kLossBound);
  EXPECT_LT(*report.eval_after, *report.eval_before);
  EXPECT_NEAR(trained.evaluate(train_data(), {.batch = 2}), *report.eval_after, kLossBound);
  EXPECT_NEAR(base.evaluate(train_data()), reference_loss("eval_multi.ids"), kLossBound) << "base changed";

  const fs::path adapter = scratch.path() / "adapter";
  trainer.save_adapter(adapter);
  const nlohmann::json config = nlohmann::json::parse(read_file(adapter / "adapter_config.json"));
  EXPECT_EQ(config.at("peft_type"), "LORA");
  EXPECT_EQ(config.at("r"), 4);
  EXPECT_EQ(config.at("lora_alpha").get<double>(), 8.0);
  EXPECT_EQ(read_file(adapter / "adapter_model.safetensors"), read_file(report.final_dir / "adapter_model.safetensors"));

  // Saved merged and loaded back as a plain checkpoint, it has the trained model's loss.
  const fs::path merged = scratch.path() / "merged";
  trained.save(merged);
  const Model reloaded = Model::load(merged);
  EXPECT_EQ(reloaded.parameter_count(), kGpt2TinyParameters);
  EXPECT_NEAR(reloaded.evaluate(train_data()), *report.eval_after, kLossBound);

  EXPECT_EQ(error_of([&] { (void)trainer.run(); }).category(), ErrorCategory::InvalidArgument);
  EXPECT_EQ(error_of([&] { (void)Trainer(trained, o); }).category(), ErrorCategory::InvalidArgument);
}

TEST(Api, SameSettingsGiveTheInternalTrainersLosses) {
  ScratchDir scratch("api-same");
  Trainer trainer(gpt2_dir(), lora_options(scratch.path() / "api", {"cpu"}, "cpu"));
  const std::vector<double> api = trainer.run().losses;
  ASSERT_EQ(api.size(), 3u);
  EXPECT_EQ(api, internal_losses(scratch.path() / "internal"));
}

TEST(Api, FullFineTuningHasNoAdapter) {
  ScratchDir scratch("api-full");
  TrainOptions o = lora_options(scratch.path(), {"cpu"}, "cpu");
  o.lora_rank = 0;
  o.steps = 1;
  Trainer trainer(gpt2_dir(), o);
  EXPECT_EQ(trainer.model().trainable_parameter_count(), kGpt2TinyParameters);
  (void)trainer.run();
  EXPECT_EQ(error_of([&] { trainer.save_adapter(scratch.path() / "adapter"); }).category(),
            ErrorCategory::InvalidArgument);
}

}  // namespace
}  // namespace tandem::testing
