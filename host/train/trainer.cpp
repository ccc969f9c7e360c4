#include "train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <fstream>
#include <limits>
#include <string_view>
#include <sstream>

#include "backends/registry.hpp"
#include "data/batcher.hpp"
#include "dist/agreement.hpp"
#include "dist/communicator.hpp"
#include "dist/gradient_reducer.hpp"
#include "models/evaluate.hpp"
#include "tandem/error.hpp"
#include "train/checkpoint.hpp"
#include "train/lora.hpp"
#include "train/plots.hpp"
#include "train/schedule.hpp"

namespace tandem::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const ConfigField kFields[] = {
    {"model", &TrainConfig::model, "Hugging Face model directory"},
    {"data", &TrainConfig::data, "Training set: .txt, .jsonl, .ids or .bin"},
    {"eval_data", &TrainConfig::eval_data, "Held-out set evaluated every --eval-every steps and at both ends"},
    {"out", &TrainConfig::out, "Output directory: checkpoints, final export, plots"},
    {"steps", &TrainConfig::steps, "Optimizer steps (0: from --epochs)"},
    {"epochs", &TrainConfig::epochs, "Passes over the training set when --steps is 0"},
    {"batch", &TrainConfig::batch, "Examples per micro-batch"},
    {"seq", &TrainConfig::seq, "Tokens per example (0: the model's maximum)"},
    {"lr", &TrainConfig::lr, "Peak learning rate"},
    {"warmup", &TrainConfig::warmup, "Linear warmup steps"},
    {"decay", &TrainConfig::decay, "Decay after warmup: cosine, linear or constant"},
    {"min_lr_ratio", &TrainConfig::min_lr_ratio, "Final learning rate as a fraction of the peak"},
    {"weight_decay", &TrainConfig::weight_decay, "AdamW decoupled weight decay (none on biases and LayerNorm)"},
    {"beta1", &TrainConfig::beta1, "AdamW beta1"},
    {"beta2", &TrainConfig::beta2, "AdamW beta2"},
    {"eps", &TrainConfig::eps, "AdamW epsilon"},
    {"clip", &TrainConfig::clip, "Global gradient-norm clipping threshold (0: none)"},
    {"accum", &TrainConfig::accum, "Micro-batches accumulated per optimizer step"},
    {"lora_rank", &TrainConfig::lora_rank, "LoRA rank (0: full fine-tuning)"},
    {"lora_alpha", &TrainConfig::lora_alpha, "LoRA alpha (the update is scaled by alpha / rank)"},
    {"lora_dropout", &TrainConfig::lora_dropout, "LoRA dropout on the adapter input"},
    {"lora_targets", &TrainConfig::lora_targets, "LoRA target modules (default: the model family's usual ones)"},
    {"merge_lora", &TrainConfig::merge_lora, "Also export the adapter merged into the base weights"},
    {"devices", &TrainConfig::devices, "Device specs, comma-separated; the CPU is always included"},
    {"policy", &TrainConfig::policy, "Placement: cpu, fpga, heft or rules:FILE"},
    {"fpga_model", &TrainConfig::fpga_model, "Plan the OpenCL device as this card"},
    {"bitstream_dir", &TrainConfig::bitstream_dir, "Where card manifests live"},
    {"no_history", &TrainConfig::no_history, "Neither read nor write the cost history files"},
    {"cpu_threads", &TrainConfig::cpu_threads, "CPU threads (0: every core)"},
    {"trace", &TrainConfig::trace, "Write a Chrome trace of every step"},
    {"metrics", &TrainConfig::metrics, "Write per-step metrics as JSONL"},
    {"seed", &TrainConfig::seed, "Seed of the data order and LoRA initialisation"},
    {"resume", &TrainConfig::resume, "Continue from this checkpoint directory"},
    {"task", &TrainConfig::task, "lm or classify (must match the model and data)"},
    {"eval_every", &TrainConfig::eval_every, "Evaluate every N steps (0: only at both ends)"},
    {"save_every", &TrainConfig::save_every, "Checkpoint every N steps (0: only at the end)"},
    {"keep", &TrainConfig::keep, "Checkpoints kept"},
    {"skip_nonfinite", &TrainConfig::skip_nonfinite, "Skip a step whose loss or gradient is NaN/Inf instead of stopping"},
    {"allreduce_bucket_mb", &TrainConfig::allreduce_bucket_mb,
     "Under mpirun: gradient MB per allreduce bucket (started as soon as its gradients are final)"},
};

std::string flag_of(const std::string& key) {
  std::string flag = "--" + key;
  for (char& c : flag)
    if (c == '_') c = '-';
  return flag;
}

// Assigns JSON value @p v to @p config's field; a wrong type is an error naming @p where.
struct Assign {
  TrainConfig& config;
  const json& v;
  const std::string& where;
  const std::string& key;

  [[noreturn]] void bad(const char* want) const {
    throw Error(where + ": \"" + key + "\" must be " + want + ", got " + v.dump(), ErrorCategory::Io);
  }
  void operator()(std::string TrainConfig::*m) const {
    if (!v.is_string()) bad("a string");
    config.*m = v.get<std::string>();
  }
  void operator()(std::int64_t TrainConfig::*m) const {
    if (!v.is_number_integer()) bad("an integer");
    config.*m = v.get<std::int64_t>();
  }
  void operator()(double TrainConfig::*m) const {
    if (!v.is_number()) bad("a number");
    config.*m = v.get<double>();
  }
  void operator()(bool TrainConfig::*m) const {
    if (!v.is_boolean()) bad("true or false");
    config.*m = v.get<bool>();
  }
  void operator()(std::uint64_t TrainConfig::*m) const {
    if (!v.is_number_unsigned()) bad("a non-negative integer");
    config.*m = v.get<std::uint64_t>();
  }
  void operator()(std::vector<std::string> TrainConfig::*m) const {
    if (!v.is_array()) bad("an array of strings");
    std::vector<std::string> out;
    for (const json& item : v) {
      if (!item.is_string()) bad("an array of strings");
      out.push_back(item.get<std::string>());
    }
    config.*m = std::move(out);
  }
};

}  // namespace

std::span<const ConfigField> config_fields() { return kFields; }

json to_json(const TrainConfig& config) {
  json j = json::object();
  for (const ConfigField& f : kFields)
    std::visit([&](auto m) { j[f.key] = config.*m; }, f.member);
  return j;
}

TrainConfig config_from_json(const json& j, TrainConfig base, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": the config must be a JSON object", ErrorCategory::Io);
  for (const auto& [key, value] : j.items()) {
    const ConfigField* field = nullptr;
    for (const ConfigField& f : kFields)
      if (key == f.key) field = &f;
    if (field == nullptr) throw Error(where + ": unknown setting \"" + key + "\"", ErrorCategory::Io);
    std::visit(Assign{base, value, where, key}, field->member);
  }
  return base;
}

TrainConfig load_config_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(path.string() + ": cannot open the config file", ErrorCategory::Io);
  json j;
  try {
    in >> j;
  } catch (const json::exception& e) {
    throw Error(path.string() + ": not valid JSON: " + e.what(), ErrorCategory::Io);
  }
  TrainConfig config = config_from_json(j, TrainConfig{}, path.string());
  validate_values(config, path.string());
  return config;
}

namespace {

void require(bool ok, const std::string& flag, const std::string& what) {
  if (!ok) throw Error(flag + ": " + what);
}

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

Schedule schedule_of(const TrainConfig& c, std::int64_t total) {
  return {c.lr, c.warmup, total, parse_decay(c.decay), c.min_lr_ratio};
}

}  // namespace

void validate_values(const TrainConfig& c, const std::string& origin) {
  auto require = [&](bool ok, const std::string& flag, const std::string& what) {
    if (!ok) throw Error((origin.empty() ? "" : origin + ": ") + flag + ": " + what);
  };
  require(c.steps >= 0, "--steps", "must be >= 0, got " + std::to_string(c.steps));
  require(c.epochs >= 0, "--epochs", "must be >= 0, got " + std::to_string(c.epochs));
  require(c.batch >= 1, "--batch", "must be >= 1, got " + std::to_string(c.batch));
  require(c.seq >= 0, "--seq", "must be >= 0, got " + std::to_string(c.seq));
  require(c.lr > 0 && std::isfinite(c.lr), "--lr", "must be a positive finite number, got " + num(c.lr));
  require(c.warmup >= 0, "--warmup", "must be >= 0, got " + std::to_string(c.warmup));
  (void)parse_decay(c.decay);
  require(c.min_lr_ratio >= 0 && c.min_lr_ratio <= 1, "--min-lr-ratio", "must lie in [0, 1], got " + num(c.min_lr_ratio));
  require(c.weight_decay >= 0 && std::isfinite(c.weight_decay), "--weight-decay", "must be >= 0, got " + num(c.weight_decay));
  require(c.beta1 >= 0 && c.beta1 < 1, "--beta1", "must lie in [0, 1), got " + num(c.beta1));
  require(c.beta2 >= 0 && c.beta2 < 1, "--beta2", "must lie in [0, 1), got " + num(c.beta2));
  require(c.eps > 0, "--eps", "must be > 0, got " + num(c.eps));
  require(c.clip >= 0 && std::isfinite(c.clip), "--clip", "must be >= 0 (0: no clipping), got " + num(c.clip));
  require(c.accum >= 1, "--accum", "must be >= 1, got " + std::to_string(c.accum));
  require(c.lora_rank >= 0, "--lora-rank", "must be >= 0, got " + std::to_string(c.lora_rank));
  require(c.lora_alpha > 0, "--lora-alpha", "must be > 0, got " + num(c.lora_alpha));
  require(c.lora_dropout >= 0 && c.lora_dropout < 1, "--lora-dropout", "must lie in [0, 1), got " + num(c.lora_dropout));
  require(!c.merge_lora || c.lora_rank > 0, "--merge-lora", "needs --lora-rank > 0");
  require(c.cpu_threads >= 0, "--cpu-threads", "must be >= 0, got " + std::to_string(c.cpu_threads));
  require(c.task == "lm" || c.task == "classify", "--task", "must be lm or classify, got '" + c.task + "'");
  require(c.eval_every >= 0, "--eval-every", "must be >= 0, got " + std::to_string(c.eval_every));
  require(c.save_every >= 0, "--save-every", "must be >= 0, got " + std::to_string(c.save_every));
  require(c.keep >= 1, "--keep", "must be >= 1, got " + std::to_string(c.keep));
  require(c.allreduce_bucket_mb > 0 && c.allreduce_bucket_mb <= 1e6, "--allreduce-bucket-mb",
          "must lie in (0, 1e6], got " + num(c.allreduce_bucket_mb));
}

void validate(const TrainConfig& c) {
  require(!c.model.empty(), "--model", "no model directory given");
  require(!c.data.empty(), "--data", "no training set given");
  require(!c.out.empty(), "--out", "no output directory given");
  require(c.steps > 0 || c.epochs > 0, "--steps", "give --steps N or --epochs N");
  require(c.steps == 0 || c.epochs == 0, "--steps", "give --steps or --epochs, not both");
  validate_values(c, "");
}

struct Trainer::State {
  TrainConfig config;
  TrainCallbacks callbacks;
  dist::Communicator* comm = nullptr;  // null: a single process
  int rank = 0, ranks = 1;
  std::unique_ptr<dist::GradientReducer> reducer;
  std::unique_ptr<models::Model> model;
  std::optional<LoraConfig> lora;
  models::ModelData train_data;
  std::optional<models::ModelData> eval_data;
  std::unique_ptr<data::Batcher> batcher;
  std::unique_ptr<OpKernels> eval_kernels;
  std::unique_ptr<sched::Session> session;
  std::int64_t total = 0;
  TrainerState state;  // step, data position, metrics so far
  fs::path last_checkpoint;
  sched::ExecutionReport last_backward_report, last_optimizer_report;  // of the last step run
  bool have_backward_report = false, have_optimizer_report = false;

  void log(const std::string& line) const {
    if (rank == 0 && callbacks.on_log) callbacks.on_log(line);
  }
  // This rank's rows of the next global batch of ranks × config.batch examples.
  [[nodiscard]] data::Batch next_batch();
  // Checks the ranks agree, then gives every rank rank 0's weights and moments.
  void join_ranks();
  [[nodiscard]] double evaluate_loss();
  void save();
  // One optimizer step (skipped in the metrics when the loss or gradient was not finite).
  StepMetrics step();
  void export_final(TrainResult& result);
  void write_plots(TrainResult& result);
};

namespace {

std::vector<std::string> device_list(const std::string& list) {
  std::vector<std::string> out = split_device_list(list);
  if (out.empty()) throw Error("--devices: no device given");
  return out;
}

void check_task(const TrainConfig& c, const models::ModelData& d) {
  const bool classify = d.examples.task == data::Task::Classification;
  if (classify && c.task != "classify")
    throw Error("--task: the model classifies sequences, so --task must be classify, not " + c.task);
  if (!classify && c.task != "lm")
    throw Error("--task: the model is a language model, so --task must be lm, not " + c.task);
}

// A resumed run must see the same data in the same order and train the same parameters.
void check_resume_matches(const json& saved, const TrainConfig& now, const std::string& dir) {
  const json current = to_json(now);
  for (const char* key : {"data", "batch", "seq", "accum", "seed", "task", "lora_rank", "lora_alpha", "lora_targets"}) {
    if (!saved.contains(key) || saved.at(key) != current.at(key))
      throw Error("--resume " + dir + ": the checkpoint was trained with " + flag_of(key) + " " +
                  (saved.contains(key) ? saved.at(key).dump() : std::string("(unset)")) + ", this run has " +
                  current.at(key).dump());
  }
}

std::int64_t count_tokens(const data::Batch& b) {
  if (!b.mask.defined()) return b.ids.numel();
  const float* m = b.mask.data<float>();
  double sum = 0;
  for (std::int64_t i = 0; i < b.mask.numel(); ++i) sum += static_cast<double>(m[i]);
  return static_cast<std::int64_t>(sum);
}

void copy_tokenizer_files(const fs::path& from, const fs::path& to) {
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "vocab.txt",
                           "special_tokens_map.json", "generation_config.json"}) {
    std::error_code ec;
    if (fs::is_regular_file(from / name)) fs::copy_file(from / name, to / name, fs::copy_options::overwrite_existing, ec);
    if (ec) throw Error((to / name).string() + ": cannot copy the tokenizer file: " + ec.message(), ErrorCategory::Io);
  }
}

}  // namespace

Trainer::Trainer(TrainConfig config, TrainCallbacks callbacks, dist::Communicator* comm) : s_(std::make_unique<State>()) {
  validate(config);
  s_->config = std::move(config);
  s_->callbacks = std::move(callbacks);
  s_->comm = comm;
  if (comm != nullptr) {
    s_->rank = comm->rank();
    s_->ranks = comm->size();
  }
  const TrainConfig& c = s_->config;
  if (s_->rank == 0 && !c.trace.empty()) models::check_output_directory(c.trace);
  if (s_->rank == 0 && !c.metrics.empty()) models::check_output_directory(c.metrics);
  std::optional<TrainerState> resumed;
  if (!c.resume.empty()) {
    resumed = read_trainer_state(c.resume);
    check_resume_matches(resumed->config, c, c.resume);
  }

  s_->model = models::load_model_dir(c.model);
  if (c.lora_rank > 0) {
    LoraConfig lc;
    lc.rank = c.lora_rank;
    lc.alpha = static_cast<float>(c.lora_alpha);
    lc.dropout = static_cast<float>(c.lora_dropout);
    lc.targets = c.lora_targets.empty() ? default_lora_targets(s_->model->config()) : c.lora_targets;
    apply_lora(*s_->model, lc, c.seed);
    s_->lora = lc;
  }
  s_->train_data = models::load_model_data(*s_->model, c.model, c.data, c.seq);
  check_task(c, s_->train_data);
  if (!c.eval_data.empty()) s_->eval_data = models::load_model_data(*s_->model, c.model, c.eval_data, c.seq);

  // Fixed-shape batches, so one placement serves every step. Every rank draws the same global
  // batches and keeps its own rows of each (next_batch).
  const std::int64_t global_batch = c.batch * s_->ranks;
  data::BatcherOptions bo;
  bo.batch_size = global_batch;
  bo.seed = c.seed;
  bo.drop_last = true;
  bo.pad_to_context = true;
  bo.pad_id = s_->train_data.pad_id;
  const auto examples = static_cast<std::int64_t>(s_->train_data.examples.examples.size());
  if (examples < global_batch)
    throw Error(s_->train_data.source.string() + ": " + std::to_string(examples) +
                " examples, fewer than one batch of --batch " + std::to_string(c.batch) +
                (s_->ranks > 1 ? " × " + std::to_string(s_->ranks) + " ranks" : std::string()), ErrorCategory::Io);
  s_->batcher = std::make_unique<data::Batcher>(s_->train_data.examples, bo);
  s_->total = c.steps > 0 ? c.steps
                          : c.epochs * std::max<std::int64_t>(1, s_->batcher->batches_per_epoch() / c.accum);
  validate(schedule_of(c, s_->total));

  sched::SessionOptions so;
  so.devices = device_list(c.devices);
  so.policy = c.policy;
  so.fpga_model = c.fpga_model;
  so.bitstream_dir = c.bitstream_dir;
  so.use_history = !c.no_history;
  so.adamw.beta1 = static_cast<float>(c.beta1);
  so.adamw.beta2 = static_cast<float>(c.beta2);
  so.adamw.eps = static_cast<float>(c.eps);
  so.adamw.weight_decay = static_cast<float>(c.weight_decay);
  so.executor.cpu_threads = static_cast<int>(c.cpu_threads);
  s_->session = std::make_unique<sched::Session>(*s_->model, so);
  s_->eval_kernels = open_backend("cpu");

  s_->state.config = to_json(c);
  s_->state.seed = c.seed;
  if (resumed) {
    const TrainerState st = load_checkpoint(c.resume, *s_->model,
                                            {s_->session->first_moments(), s_->session->second_moments()});
    s_->session->set_optimizer_steps(st.optimizer_steps);
    s_->batcher->set_position(st.position);
    s_->state.step = st.step;
    s_->state.optimizer_steps = st.optimizer_steps;
    s_->state.metrics = st.metrics;
    s_->last_checkpoint = c.resume;
  }
  if (comm != nullptr) s_->join_ranks();
}

namespace {

// What every rank must have in common (dist/agreement.hpp): the settings that are not per rank
// (paths, devices and placement may differ between machines), the model, every parameter and
// the training set's size.
json agreement_facts(const TrainConfig& c, models::Model& model, const models::ModelData& data, std::int64_t step) {
  json facts = json::object();
  const json settings = to_json(c);
  for (const auto& [key, value] : settings.items()) {
    static const std::vector<std::string> kPerRank = {"model", "data",  "eval_data", "out",     "devices",
                                                      "policy", "fpga_model", "bitstream_dir", "no_history",
                                                      "cpu_threads", "trace", "metrics", "resume"};
    if (std::find(kPerRank.begin(), kPerRank.end(), key) == kPerRank.end()) facts[flag_of(key)] = value;
  }
  const models::ModelConfig& mc = model.config();
  facts["model"] = std::string(models::architecture_name(mc.architecture)) + " hidden " + std::to_string(mc.hidden) +
                   ", layers " + std::to_string(mc.layers) + ", heads " + std::to_string(mc.heads) + ", positions " +
                   std::to_string(mc.max_positions) + ", vocab " + std::to_string(mc.vocab);
  std::span<models::Parameter> params = model.parameters();
  facts["parameter count"] = params.size();
  for (std::size_t i = 0; i < params.size(); ++i) {
    facts["parameter " + std::to_string(i)] =
        params[i].name + " " + params[i].value.shape().str() + (params[i].trainable ? " trainable" : " frozen");
  }
  facts["training examples"] = data.examples.examples.size();
  facts["context"] = data.examples.context;
  facts["starting step"] = step;
  return facts;
}

// Every rank holds the same defined tensors (their shapes were checked to agree).
void broadcast_all(dist::Communicator& comm, std::span<Tensor> tensors) {
  for (Tensor& t : tensors)
    if (t.defined()) comm.broadcast({t.data<float>(), static_cast<std::size_t>(t.numel())}, 0);
}

}  // namespace

void Trainer::State::join_ranks() {
  dist::check_agreement(*comm, agreement_facts(config, *model, train_data, state.step));
  std::vector<Tensor> values;
  for (models::Parameter& p : model->parameters()) values.push_back(p.value);
  broadcast_all(*comm, values);
  broadcast_all(*comm, session->first_moments());
  broadcast_all(*comm, session->second_moments());
  const auto bucket_bytes = static_cast<std::uint64_t>(config.allreduce_bucket_mb * 1e6);
  reducer = std::make_unique<dist::GradientReducer>(*comm, model->parameters(), std::max<std::uint64_t>(bucket_bytes, 1));
  session->set_gradient_sync(reducer.get());
}

data::Batch Trainer::State::next_batch() {
  data::Batch global = batcher->next();
  if (ranks == 1) return global;
  const auto rows = [&](const Tensor& t) {
    return t.defined() ? t.narrow(0, rank * config.batch, config.batch).clone() : Tensor{};
  };
  return {rows(global.ids), rows(global.targets), rows(global.labels), rows(global.mask), rows(global.token_types)};
}

Trainer::~Trainer() = default;

models::Model& Trainer::model() { return *s_->model; }
sched::Session& Trainer::session() { return *s_->session; }
std::int64_t Trainer::total_steps() const { return s_->total; }


double Trainer::State::evaluate_loss() {
  return models::evaluate(*model, *eval_data, *eval_kernels, config.batch).loss;
}

void Trainer::State::save() {
  state.position = batcher->position();
  state.optimizer_steps = session->optimizer_steps();
  last_checkpoint = save_checkpoint(config.out, *model, {session->first_moments(), session->second_moments()}, state,
                                    static_cast<int>(config.keep));
  log("checkpoint " + last_checkpoint.string());
}

namespace {

// Test hook: TANDEM_TEST_FAIL_RANK="R:STEP" makes rank R of a data-parallel job fail at the
// start of step STEP, while the other ranks go on into that step's collectives.
void fail_if_asked(int rank, std::int64_t step) {
  const char* text = std::getenv("TANDEM_TEST_FAIL_RANK");
  if (text == nullptr || *text == '\0') return;
  int want_rank = -1;
  long long want_step = -1;
  if (std::sscanf(text, "%d:%lld", &want_rank, &want_step) != 2)
    throw Error("TANDEM_TEST_FAIL_RANK: expected RANK:STEP, got '" + std::string(text) + "'");
  if (want_rank == rank && want_step == step)
    throw Error("step " + std::to_string(step) + ": injected failure (TANDEM_TEST_FAIL_RANK)");
}

}  // namespace

StepMetrics Trainer::State::step() {
  const std::int64_t number = state.step + 1;
  if (ranks > 1) fail_if_asked(rank, number);
  std::vector<data::Batch> micro;
  StepMetrics m;
  m.step = number;
  for (std::int64_t i = 0; i < config.accum; ++i) {
    micro.push_back(next_batch());
    m.tokens += count_tokens(micro.back());
  }
  if (lora) set_lora_step(*model, config.seed, number);
  m.lr = learning_rate(schedule_of(config, total), number);
  sched::TrainStepArgs args;
  args.lr = static_cast<float>(m.lr);
  args.max_norm = static_cast<float>(config.clip);
  const auto t0 = std::chrono::steady_clock::now();
  sched::TrainStepResult r;
  try {
    r = session->train_step(micro, args);
  } catch (const Error& e) {
    // The ops' value checks stop the forward graph on a non-finite activation before any
    // update ran: the same outcome as a non-finite loss.
    // Under data parallelism the other ranks are waiting in a collective: the job ends.
    if (std::string_view(e.what()).find("contains NaN or Inf") == std::string_view::npos || ranks > 1) throw;
    r = {};
    r.loss = std::numeric_limits<float>::quiet_NaN();
    r.grad_norm = std::numeric_limits<double>::quiet_NaN();
    state.step = number;
    m.step_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    m.loss = r.loss;
    m.grad_norm = r.grad_norm;
    m.skipped = true;
    log("step " + std::to_string(number) + ": " + e.what());
    return m;
  }
  m.step_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  m.loss = r.loss;
  m.grad_norm = r.grad_norm;
  m.skipped = !r.applied;
  m.tokens *= ranks;  // the other ranks' counts taken as this rank's: exact when no batch is padded
  m.tokens_per_s = m.step_ms > 0 ? static_cast<double>(m.tokens) / (m.step_ms / 1000.0) : 0;
  std::vector<GraphRun> graphs = {{&r.backward_summary, total_flops(session->graph())}};
  if (r.applied) graphs.push_back({&r.optimizer_summary, total_flops(session->optimizer_graph())});
  m.devices = device_shares(graphs);
  last_backward_report = r.backward.report;
  have_backward_report = true;
  have_optimizer_report = r.applied;
  if (r.applied) last_optimizer_report = r.optimizer.report;
  state.step = number;
  return m;
}

void Trainer::State::export_final(TrainResult& result) {
  const fs::path dir = fs::path(config.out) / "final";
  if (lora) {
    save_lora_adapter(*model, *lora, dir, config.model);
    log("LoRA adapter " + dir.string());
    if (config.merge_lora) {
      const fs::path merged_dir = fs::path(config.out) / "final-merged";
      std::unique_ptr<models::Model> merged = merge_lora(*model);
      models::save_model(*merged, merged_dir);
      copy_tokenizer_files(config.model, merged_dir);
      log("merged model " + merged_dir.string());
    }
  } else {
    models::save_model(*model, dir);
    copy_tokenizer_files(config.model, dir);
    log("final model " + dir.string());
  }
  result.final_dir = dir;
}

void Trainer::State::write_plots(TrainResult& result) {
  result.loss_svg = fs::path(config.out) / "loss.svg";
  write_svg(result.loss_svg, loss_curve_svg(state.metrics));
  if (!have_backward_report) return;
  std::vector<TimelineGraph> graphs = {{&session->graph(), &last_backward_report}};
  if (have_optimizer_report) graphs.push_back({&session->optimizer_graph(), &last_optimizer_report});
  result.timeline_svg = fs::path(config.out) / "timeline.svg";
  write_svg(result.timeline_svg, timeline_svg(graphs, session->devices()));
}

TrainResult Trainer::run() {
  State& s = *s_;
  const TrainConfig& c = s.config;
  TrainResult result;
  result.first_step = s.state.step + 1;
  const bool lead = s.rank == 0;  // the one rank that evaluates and writes (collectives run on all)
  const bool evaluate = lead && s.eval_data.has_value();
  std::unique_ptr<MetricsWriter> writer;
  if (lead && !c.metrics.empty()) writer = std::make_unique<MetricsWriter>(c.metrics, !c.resume.empty());
  if (evaluate) {
    result.eval_before = s.evaluate_loss();
    s.log("eval loss " + num(*result.eval_before) + " at step " + std::to_string(s.state.step));
  }
  bool saved_last = !c.resume.empty();
  while (s.state.step < s.total) {
    StepMetrics m = s.step();
    saved_last = false;
    if (m.skipped && !c.skip_nonfinite) {
      if (writer) writer->write(m);
      throw Error("step " + std::to_string(m.step) + ": the loss or gradient norm is not finite (loss " + num(m.loss) +
                  ", grad norm " + num(m.grad_norm) + "); stopped without updating. Last good checkpoint: " +
                  (s.last_checkpoint.empty() ? std::string("none written yet") : s.last_checkpoint.string()) +
                  " (--skip-nonfinite skips such steps)");
    }
    if (m.skipped) s.log("step " + std::to_string(m.step) + ": non-finite loss or gradient, update skipped");
    if (evaluate && c.eval_every > 0 && m.step % c.eval_every == 0) m.eval_loss = s.evaluate_loss();
    s.state.metrics.push_back(m);
    if (writer) writer->write(m);
    if (lead && s.callbacks.on_step) s.callbacks.on_step(m, s.total);
    if (c.save_every > 0 && m.step % c.save_every == 0) {
      if (lead) s.save();
      saved_last = true;
    }
  }
  result.last_step = s.state.step;
  result.metrics = s.state.metrics;
  result.summary = s.session->last_summary();
  if (!lead) return result;
  if (!saved_last) s.save();
  if (evaluate) {
    result.eval_after = s.state.metrics.empty() || !s.state.metrics.back().eval_loss ? s.evaluate_loss()
                                                                                     : *s.state.metrics.back().eval_loss;
    s.log("eval loss " + num(*result.eval_after) + " at step " + std::to_string(s.state.step));
  }
  s.export_final(result);
  s.write_plots(result);
  if (!c.trace.empty()) {
    s.session->trace().write(c.trace);
    s.log("trace " + c.trace);
  }
  result.last_checkpoint = s.last_checkpoint;
  return result;
}

}  // namespace tandem::train
