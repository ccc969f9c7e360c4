// Data-parallel fine-tuning (issue 9): the real `mpirun --oversubscribe -np 2 tandem finetune`
// against one process with the global batch, the start-of-run agreement check, a failing rank
// ending the job, and in-process checks of the pieces (buckets, agreement messages, launch
// detection, the session's gradient-ready hook).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cli_runner.hpp"
#include "data/batch.hpp"
#include "dist/agreement.hpp"
#include "dist/communicator.hpp"
#include "dist/gradient_reducer.hpp"
#include "io/safetensors.hpp"
#include "models/evaluate.hpp"
#include "models/model.hpp"
#include "sched/session.hpp"
#include "tandem/error.hpp"

namespace tandem::test {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kUnitRoundoff = 5.9604644775390625e-8;  // 2^-24, float32
constexpr int kBatch = 2;                                  // per rank; the single process uses 2·kBatch
constexpr int kSeq = 32;
constexpr int kSteps = 4;
constexpr double kLr = 1e-3;

std::string model_dir() { return std::string(TANDEM_EXAMPLES) + "/tiny-gpt2"; }

class DataParallel : public ::testing::Test {
 protected:
  void SetUp() override {
    // Root in containers and CI; Open MPI refuses to run as root without both.
    ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    ::unsetenv("TANDEM_TEST_FAIL_RANK");
    // Under ASan the ranks' leak check would report Open MPI's own allocations from MPI_Init,
    // which LeakSanitizer cannot attribute to a library (no suppression can name them). The
    // ranks are the tandem program, whose leaks the in-process tests already check.
    const char* asan = std::getenv("ASAN_OPTIONS");
    ::setenv("ASAN_OPTIONS", (std::string(asan != nullptr ? asan : "") + ":detect_leaks=0").c_str(), 1);
    dir_ = fs::temp_directory_path() / ("tandem-dist-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // 32 windows of kSeq + 1 tokens, none padded, so every rank's batch has the same token
    // count and the mean of the ranks' means is the global mean.
    std::ofstream corpus(dir_ / "corpus.ids");
    std::uint32_t x = 12345;
    for (int line = 0; line < 32; ++line)
      for (int j = 0; j <= kSeq; ++j) {
        x = x * 1664525u + 1013904223u;
        corpus << (x >> 8) % 250 + 1 << (j < kSeq ? ' ' : '\n');
      }
  }
  void TearDown() override { fs::remove_all(dir_); }

  // `tandem finetune` flags shared by every run here; $R is this rank under mpirun.
  [[nodiscard]] std::string finetune(const std::string& out, int batch, const std::string& extra) const {
    return "finetune --model " + model_dir() + " --data " + (dir_ / "corpus.ids").string() + " --out " + out +
           " --steps " + std::to_string(kSteps) + " --batch " + std::to_string(batch) + " --seq " +
           std::to_string(kSeq) + " --lr " + std::to_string(kLr) +
           " --policy cpu --no-history --cpu-threads 1 --allreduce-bucket-mb 0.5 " + extra;
  }

  // Two ranks of `sh -c 'tandem ARGS'`, with $R the rank, under a 60 s timeout.
  static CliResult mpirun2(const std::string& args) {
    const std::string script = "R=$OMPI_COMM_WORLD_RANK; exec " + std::string(TANDEM_CLI) + " " + args;
    const std::string cmd = "timeout 60 " + std::string(TANDEM_MPIRUN) + " --oversubscribe -np 2 sh -c " + quote(script);
    return run_shell(cmd);
  }

  static CliResult run_shell(const std::string& cmd) {
    static int counter = 0;
    const fs::path out = fs::temp_directory_path() / ("tandem-dist-out-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    const int raw = std::system((cmd + " >" + out.string() + ".o 2>" + out.string() + ".e").c_str());
    CliResult r;
    r.out = slurp(out.string() + ".o");
    r.err = slurp(out.string() + ".e");
    fs::remove(out.string() + ".o");
    fs::remove(out.string() + ".e");
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    r.signalled = !WIFEXITED(raw);
    return r;
  }

  static std::vector<json> jsonl(const fs::path& p) {
    std::vector<json> out;
    std::ifstream in(p);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(json::parse(line));
    return out;
  }

  fs::path dir_;
};

// 2 ranks × batch b against 1 process × batch 2b, over kSteps steps of full fine-tuning.
//
// The bound. Both runs see the same examples in the same order with the same initial weights;
// only reduction orders differ. Rows are computed alike whatever the batch size (the GEMM's
// K blocking depends on K only, the other ops work per row or per (batch, head)), so:
// - step 1: the loss differs only in how the mean over n = 2·b·T tokens is summed, at most
//   n·u·|L| (u = 2^-24; the single process sums n terms, the ranks n/2 each and then average);
// - each weight gradient is a sum over K = 2·b·T rows in one process but two sums of b·T
//   added by the allreduce: a relative error of at most K·u per gradient element, which
//   moves each AdamW update by at most 3.16·lr·K·u (Kingma & Ba's bound on an Adam step,
//   (1−β1)/√(1−β2) = 3.16 for the default betas), so after s−1 steps the P parameters differ
//   by at most √P·3.16·lr·K·u·(s−1) in the 2-norm and, to first order, the loss at step s by
//   that times the gradient norm.
// The checkpoint: each run moves every parameter by at most 3.16·Σ lr_t, so the two differ by
// at most twice that (rigorous, whatever the rounding); names and shapes must be identical.
TEST_F(DataParallel, TwoRanksOfBatchBTrainAsOneProcessOfBatch2B) {
  const fs::path single = dir_ / "single";
  const CliResult one = run_shell(std::string(TANDEM_CLI) + " " +
                                  finetune(single.string(), 2 * kBatch, "--metrics " + (dir_ / "single.jsonl").string()));
  ASSERT_EQ(one.status, 0) << one.err;
  const std::string per_rank = (dir_ / "rank").string() + "$R";
  const CliResult two = mpirun2(finetune(per_rank + "/out", kBatch,
                                         "--metrics " + per_rank + ".jsonl --trace " + per_rank + ".trace.json"));
  ASSERT_EQ(two.status, 0) << two.err;
  EXPECT_TRUE(two.err.empty()) << two.err;

  // Rank 0 alone wrote checkpoints, metrics and the trace.
  EXPECT_TRUE(fs::exists(dir_ / "rank0" / "out" / "checkpoint-4" / "trainer_state.json"));
  EXPECT_TRUE(fs::exists(dir_ / "rank0" / "out" / "final" / "model.safetensors"));
  EXPECT_FALSE(fs::exists(dir_ / "rank1")) << "rank 1 wrote an output folder";
  EXPECT_FALSE(fs::exists(dir_ / "rank1.jsonl"));
  EXPECT_FALSE(fs::exists(dir_ / "rank1.trace.json"));

  const std::vector<json> a = jsonl(dir_ / "single.jsonl");
  const std::vector<json> b = jsonl(dir_ / "rank0.jsonl");
  ASSERT_EQ(a.size(), static_cast<std::size_t>(kSteps));
  ASSERT_EQ(b.size(), a.size());
  const auto model = models::load_model_dir(model_dir());
  double params = 0;
  for (const models::Parameter& p : model->parameters()) params += static_cast<double>(p.value.numel());
  const double n = 2.0 * kBatch * kSeq;  // tokens of the global batch, and K of the weight gradients
  for (std::size_t s = 0; s < a.size(); ++s) {
    const double la = a[s]["loss"].get<double>(), lb = b[s]["loss"].get<double>();
    const double bound = n * kUnitRoundoff * std::abs(la) +
                         static_cast<double>(s) * std::sqrt(params) * 3.16 * kLr * n * kUnitRoundoff *
                             a[s]["grad_norm"].get<double>();
    EXPECT_NEAR(lb, la, bound) << "step " << s + 1;
    EXPECT_EQ(b[s]["tokens"], a[s]["tokens"]) << "step " << s + 1;
    EXPECT_NEAR(b[s]["grad_norm"].get<double>(), a[s]["grad_norm"].get<double>(),
                1e-4 * a[s]["grad_norm"].get<double>());
  }

  double lr_sum = 0;
  for (const json& m : a) lr_sum += m["lr"].get<double>();
  const double value_bound = 2 * 3.16 * lr_sum * 1.01;  // 1 %: weight decay's lr·wd·|θ| share
  const io::SafetensorsReader ra(single / "checkpoint-4" / "model.safetensors");
  const io::SafetensorsReader rb(dir_ / "rank0" / "out" / "checkpoint-4" / "model.safetensors");
  ASSERT_EQ(ra.names(), rb.names());
  double worst = 0;
  for (const std::string& name : ra.names()) {
    ASSERT_EQ(ra.shape(name), rb.shape(name)) << name;
    const Tensor ta = ra.load(name), tb = rb.load(name);
    for (std::int64_t i = 0; i < ta.numel(); ++i)
      worst = std::max(worst, static_cast<double>(std::abs(ta.data<float>()[i] - tb.data<float>()[i])));
  }
  EXPECT_LE(worst, value_bound);

  // The trace has the allreduce spans on a comm track: every bucket of every step.
  const json trace = json::parse(slurp(dir_ / "rank0.trace.json"));
  int comm = 0;
  for (const json& e : trace["traceEvents"])
    if (e.value("cat", "") == "comm") ++comm;
  EXPECT_GT(comm, kSteps);
  EXPECT_EQ(comm % kSteps, 0);
}

TEST_F(DataParallel, RanksThatDisagreeOnTheConfigStopAtStart) {
  const CliResult r = mpirun2(finetune((dir_ / "out").string(), kBatch, "--lora-rank $((4 + 4 * R))"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, 124) << "timed out";
  EXPECT_NE(r.err.find("ranks disagree at start: --lora-rank is 4 on rank 0 but 8 on rank 1"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "out" / "checkpoint-4"));
}

TEST_F(DataParallel, AFailingRankEndsTheJobNamingIt) {
  ::setenv("TANDEM_TEST_FAIL_RANK", "1:2", 1);  // rank 0 goes on into step 2's collectives
  const auto start = std::chrono::steady_clock::now();
  const CliResult r = mpirun2(finetune((dir_ / "out").string(), kBatch, ""));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ::unsetenv("TANDEM_TEST_FAIL_RANK");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, 124) << "timed out: a rank hung";
  EXPECT_LT(seconds, 30);
  EXPECT_NE(r.err.find("tandem: rank 1: step 2: injected failure"), std::string::npos) << r.err;

  // A rank that cannot read its data stops the job before any training.
  const CliResult missing = mpirun2("finetune --model " + model_dir() + " --data " + (dir_ / "corpus").string() +
                                    "$R.ids --out " + (dir_ / "out2").string() + " --steps 2 --batch 2 --seq 32 --policy cpu --no-history");
  fs::copy_file(dir_ / "corpus.ids", dir_ / "corpus0.ids");
  const CliResult only_rank1 = mpirun2("finetune --model " + model_dir() + " --data " + (dir_ / "corpus").string() +
                                       "$R.ids --out " + (dir_ / "out2").string() + " --steps 2 --batch 2 --seq 32 --policy cpu --no-history");
  EXPECT_NE(only_rank1.status, 0);
  EXPECT_NE(only_rank1.status, 124);
  EXPECT_NE(only_rank1.err.find("tandem: rank 1: "), std::string::npos) << only_rank1.err;
  EXPECT_NE(only_rank1.err.find("corpus1.ids"), std::string::npos) << only_rank1.err;
  EXPECT_EQ(only_rank1.err.find("tandem: rank 0:"), std::string::npos) << only_rank1.err;
  EXPECT_NE(missing.status, 0);
}

// --- the pieces, in process ---

models::Parameter param(const std::string& name, std::int64_t n, bool trainable = true) {
  models::Parameter p;
  p.name = name;
  p.value = Tensor::zeros({n});
  p.grad = Tensor::zeros({n});
  p.trainable = trainable;
  return p;
}

TEST(Buckets, ReverseOrderUpToTheBudgetWithBigGradientsAlone) {
  // 4-byte floats: sizes 400, 400, 4000, 400, 400 (frozen), 400 bytes; budget 1000 bytes.
  const std::vector<models::Parameter> ps = {param("a", 100), param("b", 100), param("c", 1000),
                                             param("d", 100), param("e", 100, false), param("f", 100)};
  const std::vector<dist::Bucket> b = dist::plan_buckets(ps, 1000);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].params, (std::vector<std::size_t>{5, 3}));
  EXPECT_EQ(b[0].bytes, 800u);
  EXPECT_EQ(b[1].params, (std::vector<std::size_t>{2}));
  EXPECT_EQ(b[2].params, (std::vector<std::size_t>{1, 0}));
  EXPECT_THROW((void)dist::plan_buckets(ps, 0), Error);
}

TEST(Agreement, NamesTheFirstDifferenceAndTheRanks) {
  const json base = {{"--lora-rank", 4}, {"--seed", 1}, {"parameter 0", "wte (257, 128) trainable"}};
  EXPECT_EQ(dist::first_disagreement({base, base, base}), "");
  json other = base;
  other["parameter 0"] = "wte (257, 64) trainable";
  EXPECT_EQ(dist::first_disagreement({base, base, other}),
            "ranks disagree at start: parameter 0 is wte (257, 128) trainable on rank 0 but wte (257, 64) trainable on rank 2");
  json extra = base;
  extra["--new"] = true;
  EXPECT_EQ(dist::first_disagreement({base, extra}), "ranks disagree at start: --new is missing on rank 0 but true on rank 1");
}

TEST(Launch, ReadsOpenMpiAndPmiVariables) {
  for (const char* v : {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE"}) ::unsetenv(v);
  EXPECT_FALSE(dist::launch_from_environment().has_value());
  ::setenv("PMI_SIZE", "4", 1);
  ::setenv("PMI_RANK", "3", 1);
  ASSERT_TRUE(dist::launch_from_environment().has_value());
  EXPECT_EQ(dist::launch_from_environment()->rank, 3);
  EXPECT_EQ(dist::launch_from_environment()->size, 4);
  ::setenv("PMI_RANK", "4", 1);
  EXPECT_THROW((void)dist::launch_from_environment(), Error);
  ::setenv("OMPI_COMM_WORLD_SIZE", "two", 1);
  EXPECT_THROW((void)dist::launch_from_environment(), Error);
  for (const char* v : {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE"}) ::unsetenv(v);
  EXPECT_EQ(dist::join_job(), nullptr);  // not launched: a single process, MPI untouched
}

// A stand-in for a second replica that computed exactly the same gradients: records each
// gradient when reported final and, at the end, doubles every gradient and the loss.
class MirrorSync final : public sched::GradientSync {
 public:
  explicit MirrorSync(std::span<models::Parameter> params) : params_(params), at_ready_(params.size()) {}
  [[nodiscard]] int replicas() const noexcept override { return 2; }
  void gradient_ready(std::size_t i) override {
    std::lock_guard lock(m_);
    ++calls_[i];
    at_ready_[i] = params_[i].grad.clone();
  }
  sched::SyncResult finish(double loss) override {
    for (std::size_t i = 0; i < params_.size(); ++i) {
      if (!params_[i].trainable) continue;
      EXPECT_EQ(calls_[i], 1) << params_[i].name;
      Tensor g = params_[i].grad;
      EXPECT_TRUE(at_ready_[i].defined() && same(at_ready_[i], g)) << params_[i].name << " changed after it was final";
      for (std::int64_t k = 0; k < g.numel(); ++k) g.data<float>()[k] *= 2;
    }
    calls_.clear();
    return {2 * loss, {}};
  }

 private:
  static bool same(const Tensor& a, const Tensor& b) {
    for (std::int64_t k = 0; k < a.numel(); ++k)
      if (a.data<float>()[k] != b.data<float>()[k]) return false;
    return true;
  }

  std::span<models::Parameter> params_;
  std::mutex m_;
  std::map<std::size_t, int> calls_;
  std::vector<Tensor> at_ready_;
};

TEST(GradientHook, EachGradientIsReportedOnceWhenFinalAndReplicasAverage) {
  const auto batch = [](int shift) {
    std::vector<std::int32_t> ids(2 * 8), targets(2 * 8);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      ids[i] = static_cast<std::int32_t>((i * 7 + static_cast<std::size_t>(shift)) % 97);
      targets[i] = static_cast<std::int32_t>((i * 5 + 3) % 97);
    }
    data::Batch b;
    b.ids = Tensor::from(std::span<const std::int32_t>(ids), Shape{2, 8});
    b.targets = Tensor::from(std::span<const std::int32_t>(targets), Shape{2, 8});
    return b;
  };
  const std::vector<data::Batch> micro = {batch(0), batch(11)};
  sched::SessionOptions o;
  o.policy = "cpu";
  o.use_history = false;
  o.executor.cpu_threads = 2;  // gradients finish on several threads

  auto alone = models::load_model_dir(model_dir());
  sched::Session s1(*alone, o);
  auto mirrored = models::load_model_dir(model_dir());
  sched::Session s2(*mirrored, o);
  MirrorSync sync(mirrored->parameters());
  s2.set_gradient_sync(&sync);
  for (int step = 0; step < 2; ++step) {
    const sched::TrainStepResult r1 = s1.train_step(micro, {1e-3f, 1.0f});
    const sched::TrainStepResult r2 = s2.train_step(micro, {1e-3f, 1.0f});
    // Doubling and halving are exact in binary floating point: bitwise the same run.
    EXPECT_EQ(r1.loss, r2.loss);
    EXPECT_EQ(r1.grad_norm, r2.grad_norm);
  }
  for (std::size_t i = 0; i < alone->parameters().size(); ++i) {
    const Tensor& a = alone->parameters()[i].value;
    const Tensor& b = mirrored->parameters()[i].value;
    for (std::int64_t k = 0; k < a.numel(); ++k) ASSERT_EQ(a.data<float>()[k], b.data<float>()[k]);
  }
}

}  // namespace
}  // namespace tandem::test
