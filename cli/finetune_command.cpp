// `tandem finetune`: a fine-tuning run (full or LoRA) with schedules, accumulation, clipping,
// evaluation, checkpoints and resume, on the CPU and the FPGA device under a placement policy.
// Every setting is a flag and a key of the optional JSON --config file; flags win.
// Under `mpirun -np N` it is one rank of a data-parallel job (docs/distributed.md): rank 0
// prints and writes everything; a rank that fails prints "tandem: rank R: <cause>" and ends
// the whole job, since the other ranks would otherwise wait for it forever.
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "dist/communicator.hpp"
#include "sched/trace.hpp"
#include "tandem/error.hpp"
#include "train/trainer.hpp"

namespace tandem::cli {
namespace {

struct FinetuneFlags {
  std::string config_file;
  train::TrainConfig values;        // what the flags set
  std::vector<std::pair<CLI::Option*, const train::ConfigField*>> options;
};

std::string flag_name(const char* key) {
  std::string flag = std::string("--") + key;
  for (char& c : flag)
    if (c == '_') c = '-';
  return flag;
}

// The config file (or the defaults) with every flag the user gave on top.
train::TrainConfig merged_config(const FinetuneFlags& f) {
  train::TrainConfig config = f.config_file.empty() ? train::TrainConfig{} : train::load_config_file(f.config_file);
  for (const auto& [option, field] : f.options)
    if (option->count() > 0) std::visit([&](auto m) { config.*m = f.values.*m; }, field->member);
  return config;
}

std::string duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

std::string shares(const train::StepMetrics& m) {
  std::string out;
  for (const train::DeviceShare& d : m.devices) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s%s %.0f%%", out.empty() ? "" : ", ", d.device.c_str(), 100.0 * d.busy_share);
    out += buf;
  }
  return out;
}

// One updating line on a terminal, a plain line per step otherwise.
class Progress {
 public:
  explicit Progress(bool terminal) : terminal_(terminal) {}
  void step(const train::StepMetrics& m, std::int64_t total) {
    elapsed_s_ += m.step_ms / 1000.0;
    ++seen_;
    const double eta = elapsed_s_ / static_cast<double>(seen_) * static_cast<double>(total - m.step);
    char buf[256];
    std::snprintf(buf, sizeof buf, "step %lld/%lld  loss %.4f  lr %.3g  grad %.3g  %.0f tok/s  ETA %s",
                  static_cast<long long>(m.step), static_cast<long long>(total), m.loss, m.lr, m.grad_norm,
                  m.tokens_per_s, duration(eta).c_str());
    std::string line = buf;
    if (m.eval_loss) line += "  eval " + std::to_string(*m.eval_loss);
    if (m.skipped) line += "  (skipped: not finite)";
    line += "  [" + shares(m) + "]";
    if (terminal_) {
      std::printf("\r\033[K%s", line.c_str());
      open_line_ = true;
    } else {
      std::printf("%s\n", line.c_str());
    }
    std::fflush(stdout);
  }
  void log(const std::string& line) {
    end_line();
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }
  void end_line() {
    if (open_line_) std::printf("\n");
    open_line_ = false;
  }

 private:
  bool terminal_;
  bool open_line_ = false;
  double elapsed_s_ = 0;
  std::int64_t seen_ = 0;
};

// Prints the error naming this rank and ends every rank of the job.
[[noreturn]] void abort_job(dist::Communicator& comm, const char* what) {
  std::fprintf(stderr, "tandem: rank %d: %s\n", comm.rank(), what);
  std::fflush(stderr);
  comm.abort(1);
  std::_Exit(1);  // not reached: abort() ends the process
}

void run_finetune(const FinetuneFlags& flags) {
  const std::unique_ptr<dist::Communicator> comm = dist::join_job();
  const bool lead = comm == nullptr || comm->rank() == 0;
  auto progress = std::make_shared<Progress>(::isatty(STDOUT_FILENO) != 0);
  train::TrainCallbacks callbacks;
  if (lead) {
    callbacks.on_step = [progress](const train::StepMetrics& m, std::int64_t total) { progress->step(m, total); };
    callbacks.on_log = [progress](const std::string& line) { progress->log(line); };
  }
  train::TrainResult result;
  try {
    const train::TrainConfig config = merged_config(flags);
    train::Trainer trainer(config, callbacks, comm.get());
    result = trainer.run();
  } catch (const std::exception& e) {
    progress->end_line();
    if (comm) abort_job(*comm, e.what());
    throw;
  }
  progress->end_line();
  if (!lead) return;
  const train::TrainConfig config = merged_config(flags);
  if (result.eval_before && result.eval_after)
    std::printf("eval loss %.4f -> %.4f\n", *result.eval_before, *result.eval_after);
  std::printf("loss curve %s\n", result.loss_svg.string().c_str());
  if (!result.timeline_svg.empty()) std::printf("device timeline %s\n", result.timeline_svg.string().c_str());
  if (!config.metrics.empty()) std::printf("metrics %s\n", config.metrics.c_str());
  std::printf("last step, forward and backward:\n");
  sched::print_summary(std::cout, result.summary);
}

}  // namespace

void add_finetune_command(CLI::App& app) {
  auto flags = std::make_shared<FinetuneFlags>();
  auto* cmd = app.add_subcommand("finetune", "Fine-tune a model (full or LoRA) with checkpoints, resume and plots");
  cmd->add_option("--config", flags->config_file, "JSON file of settings (keys as the flags, '_' for '-'); flags override it");
  for (const train::ConfigField& field : train::config_fields()) {
    const std::string name = flag_name(field.key);
    CLI::Option* option = std::visit(
        [&](auto m) -> CLI::Option* {
          using T = std::remove_reference_t<decltype(flags->values.*m)>;
          if constexpr (std::is_same_v<T, bool>)
            return cmd->add_flag(name, flags->values.*m, field.help);
          else if constexpr (std::is_same_v<T, std::vector<std::string>>)
            return cmd->add_option(name, flags->values.*m, field.help)->delimiter(',');
          else  // the last of a repeated flag wins, as with a config file under the flags
            return cmd->add_option(name, flags->values.*m, field.help)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
        },
        field.member);
    flags->options.emplace_back(option, &field);
  }
  cmd->callback([flags] { run_finetune(*flags); });
}

}  // namespace tandem::cli
