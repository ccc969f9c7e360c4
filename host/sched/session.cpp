#include "sched/session.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <map>

#include "backends/registry.hpp"
#include "graph/recorder.hpp"
#include "tandem/error.hpp"

namespace tandem::sched {
namespace {

// The block index in a Hugging Face parameter name ("transformer.h.3.attn..." or
// "bert.encoder.layer.3...."), or -1 for parameters outside the blocks.
int layer_of(const std::string& name) {
  for (const std::string_view key : {".h.", "layer."}) {
    const std::size_t at = name.find(key);
    if (at == std::string::npos) continue;
    std::size_t i = at + key.size();
    int layer = 0;
    bool digits = false;
    for (; i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])); ++i) {
      layer = layer * 10 + (name[i] - '0');
      digits = true;
    }
    if (digits && i < name.size() && name[i] == '.') return layer;
  }
  return -1;
}

// grads *= factor, element by element.
void scale_gradients(std::span<Tensor> grads, float factor) {
  for (Tensor& g : grads) {
    float* data = g.data<float>();
    const std::int64_t n = g.numel();
    for (std::int64_t i = 0; i < n; ++i) data[i] *= factor;
  }
}

std::vector<std::string> with_cpu_first(std::vector<std::string> specs) {
  std::erase(specs, "cpu");
  specs.insert(specs.begin(), "cpu");
  return specs;
}

}  // namespace

Session::Session(models::Model& model, SessionOptions options)
    : model_(model), options_(std::move(options)), policy_(parse_policy(options_.policy)) {
  std::vector<DeviceCost> costs;
  for (const std::string& spec : with_cpu_first(options_.devices)) {
    if (std::any_of(devices_.begin(), devices_.end(), [&](const Device& d) { return d.spec == spec; }))
      throw Error("--devices: '" + spec + "' is listed twice");
    backends_.push_back(open_backend(spec));
    const bool cpu = spec == "cpu";
    devices_.push_back({spec, backends_.back().get(), cpu});
    DeviceCost cost;
    cost.spec = spec;
    cost.is_cpu = cpu;
    const std::string name(backends_.back()->name());
    if (options_.use_history) cost.history = load_history(history_path(name), name);
    if (!cpu && !options_.fpga_model.empty()) cost.model = load_fpga_model(options_.fpga_model, options_.bitstream_dir);
    costs.push_back(std::move(cost));
  }
  cost_ = std::make_unique<CostModel>(std::move(costs));
  executor_ = std::make_unique<Executor>(devices_, options_.executor);
  trace_ = std::make_unique<Trace>(devices_);
  // Frozen parameters (the base weights under LoRA) get no moments: for GPT-2 small that
  // would be 1 GB of zeros.
  for (const models::Parameter& p : model_.parameters()) {
    m_.push_back(p.trainable ? Tensor::zeros(p.value.shape()) : Tensor());
    v_.push_back(p.trainable ? Tensor::zeros(p.value.shape()) : Tensor());
  }
}

Session::~Session() = default;

graph::TaskGraph Session::record(const data::Batch& batch) {
  graph::Recorder rec;
  rec.set_scope({-1, Phase::Forward});
  model_.forward_ops(batch, rec);
  if (!model_.loss_tensor().defined()) throw Error("step: the batch has no targets or labels, so there is no loss to train on");
  rec.set_scope({-1, Phase::Backward});
  model_.backward(rec);
  if (options_.optimizer) {
    AdamWArgs args = options_.adamw;
    args.step = steps_ + 1;
    record_adamw(rec, args);
  }
  return rec.take();
}

void Session::record_adamw(graph::Recorder& rec, const AdamWArgs& args) {
  std::span<models::Parameter> params = model_.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    models::Parameter& p = params[i];
    if (!p.trainable) continue;
    if (!m_[i].defined())
      throw Error("step: parameter " + p.name + " became trainable after the session was created, so it has no AdamW moments",
                  ErrorCategory::Internal);
    AdamWArgs a = args;
    if (!p.decay) a.weight_decay = 0.0f;
    rec.set_scope({layer_of(p.name), Phase::Optimizer});
    rec.adamw(p.value, p.grad, m_[i], v_[i], a);
  }
}

bool Session::needs_calibration(const graph::TaskGraph& graph) const {
  if (policy_.kind != PolicyKind::Heft) return false;
  for (const graph::Task& t : graph.tasks())
    for (int d = 0; d < static_cast<int>(devices_.size()); ++d)
      if (cost_->needs_measurement(t, d)) return true;
  return false;
}

ExecutionReport Session::calibrate_and_run(const graph::TaskGraph& graph, Plan& plan, const RunHooks& hooks) {
  // Program order is a topological order: every task's inputs are ready when it is reached,
  // so each unmeasured (op, shapes) is timed on each device right there, then run once for real.
  ExecutionReport report;
  report.start = std::chrono::steady_clock::now();
  report.runs.resize(graph.size());
  plan.placement = place_cpu(graph);
  for (const graph::Task& t : graph.tasks()) {
    for (int d = 0; d < static_cast<int>(devices_.size()); ++d)
      if (cost_->needs_measurement(t, d)) cost_->record(t, d, measure(t, *devices_[d].kernels));
    const auto t0 = std::chrono::steady_clock::now();
    t.run(*devices_[0].kernels);
    const auto t1 = std::chrono::steady_clock::now();
    using ms = std::chrono::duration<double, std::milli>;
    report.runs[t.id] = {0, ms(t0 - report.start).count(), ms(t1 - report.start).count()};
    plan.placement.tasks[t.id].reason = "calibration: program order on the CPU";
    if (hooks.on_task_done) hooks.on_task_done(t.id);
  }
  report.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - report.start).count();
  save_histories();
  plan.signature.clear();  // plan the next step from the new measurements
  return report;
}

void Session::save_histories() const {
  if (!options_.use_history) return;
  for (std::size_t d = 0; d < devices_.size(); ++d) {
    const std::string name(devices_[d].kernels->name());
    save_history(history_path(name), cost_->device(static_cast<int>(d)).history);
  }
}

StepResult Session::run_graph(const graph::TaskGraph& graph, Plan& plan, const RunHooks& hooks) {
  StepResult result;
  if (needs_calibration(graph)) {
    result.report = calibrate_and_run(graph, plan, hooks);
    result.calibrated = true;
  } else {
    const std::string signature = graph.signature();
    if (signature != plan.signature) {
      PolicyOptions po;
      po.strict = options_.strict;
      po.first_step = steps_ == 0;
      plan.placement = place(policy_, graph, devices_, *cost_, residency_, po);
      plan.signature = signature;
      result.replanned = true;
    }
    result.report = executor_->run(graph, plan.placement, hooks);
  }
  trace_->add_step(graph, plan.placement, result.report);
  return result;
}

RunHooks Session::gradient_hooks(const graph::TaskGraph& graph) {
  std::span<models::Parameter> params = model_.parameters();
  grad_params_of_task_.assign(graph.size(), {});
  grad_writers_left_.reset(new std::atomic<std::uint32_t>[params.size()]);
  std::vector<std::uint32_t> writers(params.size(), 0);
  std::map<const void*, std::vector<std::size_t>> by_storage;  // gradient buffers of trainable parameters
  for (std::size_t i = 0; i < params.size(); ++i)
    if (params[i].trainable && params[i].grad.defined()) by_storage[graph::region_of(params[i].grad).storage].push_back(i);
  for (const graph::Task& t : graph.tasks()) {
    for (const graph::Region& w : t.writes) {
      const auto it = by_storage.find(w.storage);
      if (it == by_storage.end()) continue;
      for (std::size_t i : it->second) {
        if (!w.overlaps(graph::region_of(params[i].grad))) continue;
        std::vector<std::size_t>& mine = grad_params_of_task_[t.id];
        if (std::find(mine.begin(), mine.end(), i) != mine.end()) continue;
        mine.push_back(i);
        ++writers[i];
      }
    }
  }
  for (std::size_t i = 0; i < params.size(); ++i) {
    grad_writers_left_[i].store(writers[i]);
    if (writers[i] == 0 && params[i].trainable && params[i].grad.defined()) sync_->gradient_ready(i);
  }
  RunHooks hooks;
  hooks.on_task_done = [this](graph::TaskId id) {
    for (std::size_t i : grad_params_of_task_[id])
      if (grad_writers_left_[i].fetch_sub(1) == 1) sync_->gradient_ready(i);
  };
  return hooks;
}

StepSummary Session::summarize_plan(const graph::TaskGraph& graph, const Plan& plan,
                                   const ExecutionReport& report) const {
  StepSummary s = summarize(graph, devices_, report);
  s.predicted_ms = plan.placement.predicted_step_ms;
  const auto& tasks = plan.placement.tasks;
  if (std::any_of(tasks.begin(), tasks.end(), [](const TaskPlacement& t) { return t.modeled; }))
    s.modeled_card = options_.fpga_model;
  return s;
}

StepResult Session::step(const data::Batch& batch) {
  model_.zero_grad();
  graph_ = record(batch);
  StepResult result = run_graph(graph_, plan_);
  ++steps_;
  summary_ = summarize_plan(graph_, plan_, result.report);
  result.loss = model_.loss_tensor().data<float>()[0];
  return result;
}

void Session::set_optimizer_steps(std::int64_t steps) {
  if (steps < 0) throw Error("Session::set_optimizer_steps: steps must be >= 0, got " + std::to_string(steps));
  steps_ = steps;
}

TrainStepResult Session::train_step(std::span<const data::Batch> micro_batches, const TrainStepArgs& args) {
  if (micro_batches.empty()) throw Error("train_step: no micro-batch given");
  if (!(args.max_norm >= 0.0f)) throw Error("train_step: max_norm must be >= 0, got " + std::to_string(args.max_norm));
  model_.zero_grad();
  std::vector<Tensor> losses;  // (1) each, filled when the graph runs
  {
    graph::Recorder rec;
    for (const data::Batch& batch : micro_batches) {
      rec.set_scope({-1, Phase::Forward});
      model_.forward_ops(batch, rec);
      if (!model_.loss_tensor().defined())
        throw Error("train_step: a batch has no targets or labels, so there is no loss to train on");
      losses.push_back(model_.loss_tensor());
      rec.set_scope({-1, Phase::Backward});
      model_.backward(rec);
    }
    graph_ = rec.take();
  }
  TrainStepResult result;
  result.backward = run_graph(graph_, plan_, sync_ != nullptr ? gradient_hooks(graph_) : RunHooks{});
  result.backward_summary = summarize_plan(graph_, plan_, result.backward.report);
  summary_ = result.backward_summary;

  double sum = 0;
  for (const Tensor& l : losses) {
    result.micro_losses.push_back(l.data<float>()[0]);
    sum += static_cast<double>(result.micro_losses.back());
  }
  double mean = sum / static_cast<double>(losses.size());
  double replicas = 1;
  if (sync_ != nullptr) {
    // Every gradient becomes the sum over replicas and micro-batches: the mean over both
    // is taken below, before the norm and clipping, as one process with the global batch would.
    SyncResult synced = sync_->finish(mean);
    replicas = static_cast<double>(sync_->replicas());
    mean = synced.loss_sum / replicas;
    trace_->add_comm_spans(synced.spans);
  }
  result.loss = static_cast<float>(mean);
  result.backward.loss = result.loss;

  std::vector<Tensor> grads;
  for (const models::Parameter& p : model_.parameters())
    if (p.trainable) grads.push_back(p.grad);
  const double raw_norm = devices_[0].kernels->grad_norm(grads);
  const double inv_n = 1.0 / (static_cast<double>(micro_batches.size()) * replicas);
  result.grad_norm = raw_norm * inv_n;
  if (!std::isfinite(result.loss) || !std::isfinite(result.grad_norm)) return result;

  double factor = inv_n;
  if (args.max_norm > 0.0f && result.grad_norm > static_cast<double>(args.max_norm))
    factor *= static_cast<double>(args.max_norm) / result.grad_norm;
  if (factor != 1.0) scale_gradients(grads, static_cast<float>(factor));

  graph::Recorder rec;
  AdamWArgs adamw = options_.adamw;
  adamw.lr = args.lr;
  adamw.step = steps_ + 1;
  record_adamw(rec, adamw);
  optimizer_graph_ = rec.take();
  result.optimizer = run_graph(optimizer_graph_, optimizer_plan_);
  result.optimizer_summary = summarize_plan(optimizer_graph_, optimizer_plan_, result.optimizer.report);
  ++steps_;
  result.applied = true;
  return result;
}

}  // namespace tandem::sched
