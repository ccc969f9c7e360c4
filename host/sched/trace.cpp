#include "sched/trace.hpp"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <utility>

#include <nlohmann/json.hpp>

#include "io/atomic_file.hpp"
#include "sched/residency.hpp"
#include "tandem/error.hpp"

namespace tandem::sched {

using graph::TaskId;
using nlohmann::json;

namespace {

// CPU devices share the host's memory: residency is tracked per memory, not per device.
int memory_of(const std::vector<Device>& devices, int device) {
  return devices[static_cast<std::size_t>(device)].is_cpu ? 0 : device;
}

// The tasks that ran, by start time (ties by id): an order that respects every dependency.
std::vector<TaskId> run_order(const ExecutionReport& report) {
  std::vector<TaskId> order;
  for (std::size_t i = 0; i < report.runs.size(); ++i)
    if (report.runs[i].device >= 0) order.push_back(static_cast<TaskId>(i));
  std::stable_sort(order.begin(), order.end(),
                   [&](TaskId a, TaskId b) { return report.runs[a].start_ms < report.runs[b].start_ms; });
  return order;
}

// The device that holds @p r's bytes to copy from: the host if it has them, else the lowest.
int source_of(DeviceMask holders) {
  if (holders == 0 || (holders & device_bit(0)) != 0) return 0;
  int d = 0;
  while ((holders & device_bit(d)) == 0) ++d;
  return d;
}

double union_ms(std::vector<std::pair<double, double>> spans) {
  std::sort(spans.begin(), spans.end());
  double total = 0, open = 0, close = 0;
  bool any = false;
  for (const auto& [s, e] : spans) {
    if (!any || s > close) {
      if (any) total += close - open;
      open = s;
      close = e;
      any = true;
    } else {
      close = std::max(close, e);
    }
  }
  if (any) total += close - open;
  return total;
}

}  // namespace

std::vector<Transfer> derive_transfers(const graph::TaskGraph& graph, const std::vector<Device>& devices,
                                       const ExecutionReport& report) {
  Residency residency;
  std::vector<Transfer> out;
  for (TaskId id : run_order(report)) {
    const graph::Task& t = graph[id];
    const TaskRun& run = report.runs[id];
    const int mem = memory_of(devices, run.device);
    std::vector<graph::Region> inputs = t.reads;
    if (!overwrites_outputs(t.kind)) inputs.insert(inputs.end(), t.writes.begin(), t.writes.end());
    for (const graph::Region& r : inputs) {
      const std::size_t missing = residency.missing_bytes(r, mem);
      if (missing > 0) out.push_back({id, source_of(residency.holders(r)), run.device, missing, run.start_ms});
      residency.add_copy(r, mem);
    }
    for (const graph::Region& w : t.writes) residency.write(w, mem);
  }
  return out;
}

StepSummary summarize(const graph::TaskGraph& graph, const std::vector<Device>& devices,
                      const ExecutionReport& report) {
  StepSummary s;
  s.wall_ms = report.wall_ms;
  s.fallbacks = report.fallbacks;
  s.devices.resize(devices.size());
  std::vector<std::vector<std::pair<double, double>>> spans(devices.size());
  std::vector<double> flops(devices.size(), 0.0);
  for (std::size_t i = 0; i < report.runs.size(); ++i) {
    const TaskRun& r = report.runs[i];
    if (r.device < 0) continue;
    const auto d = static_cast<std::size_t>(r.device);
    spans[d].emplace_back(r.start_ms, r.end_ms);
    flops[d] += graph[static_cast<TaskId>(i)].cost.flops;
    ++s.devices[d].tasks;
  }
  for (const Fallback& f : report.fallbacks)
    if (f.end_ms > f.start_ms) spans[static_cast<std::size_t>(f.device)].emplace_back(f.start_ms, f.end_ms);
  for (const Transfer& x : derive_transfers(graph, devices, report)) {
    if (!devices[static_cast<std::size_t>(x.to)].is_cpu) s.devices[static_cast<std::size_t>(x.to)].bytes_in += x.bytes;
    if (!devices[static_cast<std::size_t>(x.from)].is_cpu)
      s.devices[static_cast<std::size_t>(x.from)].bytes_out += x.bytes;
  }
  const double total_flops = std::accumulate(flops.begin(), flops.end(), 0.0);
  for (std::size_t d = 0; d < devices.size(); ++d) {
    DeviceSummary& ds = s.devices[d];
    ds.spec = devices[d].spec;
    ds.busy_ms = union_ms(std::move(spans[d]));
    ds.idle_ms = std::max(0.0, report.wall_ms - ds.busy_ms);
    ds.flop_share = total_flops > 0 ? flops[d] / total_flops : 0.0;
  }
  return s;
}

void print_summary(std::ostream& out, const StepSummary& summary) {
  char line[256];
  std::snprintf(line, sizeof line, "step %.3f ms\n%-12s %6s %10s %10s %12s %12s %7s\n", summary.wall_ms, "device",
                "tasks", "busy ms", "idle ms", "MB in", "MB out", "FLOPs");
  out << line;
  if (!summary.modeled_card.empty()) {
    std::snprintf(line, sizeof line,
                  "predicted %.3f ms on %s (modeled: the card's analytical model from its manifest, not measured; "
                  "the rows below are measured on the devices that ran)\n",
                  summary.predicted_ms, summary.modeled_card.c_str());
    out << line;
  }
  for (const DeviceSummary& d : summary.devices) {
    std::snprintf(line, sizeof line, "%-12s %6zu %10.3f %10.3f %12.3f %12.3f %6.1f%%\n", d.spec.c_str(), d.tasks,
                  d.busy_ms, d.idle_ms, double(d.bytes_in) / 1e6, double(d.bytes_out) / 1e6, 100.0 * d.flop_share);
    out << line;
  }
  out << "(MB in/out: bytes a device with its own memory would move; OpenCL buffers on PoCL are zero-copy)\n";
  for (const Fallback& f : summary.fallbacks)
    out << "fallback: task " << f.task << " left device " << f.device << ": " << f.error << "\n";
}

Trace::Trace(std::vector<Device> devices) : devices_(std::move(devices)) {
  auto meta = [&](const char* name, int tid, json args) {
    events_.push_back(json{{"name", name}, {"ph", "M"}, {"pid", 1}, {"tid", tid}, {"args", std::move(args)}}.dump());
  };
  meta("process_name", 0, {{"name", "tandem step"}});
  for (std::size_t d = 0; d <= devices_.size(); ++d) {
    const int tid = static_cast<int>(d) + 1;
    const std::string name =
        d < devices_.size() ? devices_[d].spec : "transfers (derived: zero-copy on PoCL, bytes a card would move)";
    meta("thread_name", tid, {{"name", name}});
    meta("thread_sort_index", tid, {{"sort_index", tid}});
  }
}

void Trace::add_step(const graph::TaskGraph& graph, const Placement& placement, const ExecutionReport& report) {
  if (placement.tasks.size() != graph.size() || report.runs.size() != graph.size())
    throw Error("trace: placement (" + std::to_string(placement.tasks.size()) + ") and report (" +
                std::to_string(report.runs.size()) + ") do not match a graph of " + std::to_string(graph.size()));
  if (!has_origin_) {
    origin_ = report.start;
    has_origin_ = true;
  }
  const double offset_us = std::chrono::duration<double, std::micro>(report.start - origin_).count();
  auto us = [&](double ms) { return offset_us + ms * 1000.0; };
  auto tid = [](int device) { return device + 1; };

  for (std::size_t i = 0; i < graph.size(); ++i) {
    const TaskRun& r = report.runs[i];
    if (r.device < 0) continue;
    const graph::Task& t = graph[static_cast<TaskId>(i)];
    const TaskPlacement& tp = placement.tasks[i];
    json args{{"layer", t.scope.layer},   {"task", t.id},          {"predicted_ms", tp.predicted_ms},
              {"modeled", tp.modeled},    {"reason", tp.reason},   {"flops", t.cost.flops}};
    if (r.device != tp.device && !t.host_only) args["placed_on"] = devices_[static_cast<std::size_t>(tp.device)].spec;
    events_.push_back(json{{"name", t.name}, {"cat", std::string(phase_name(t.scope.phase))}, {"ph", "X"},
                           {"ts", us(r.start_ms)}, {"dur", (r.end_ms - r.start_ms) * 1000.0}, {"pid", 1},
                           {"tid", tid(r.device)}, {"args", std::move(args)}}
                          .dump());
  }
  for (const Fallback& f : report.fallbacks) {
    if (f.end_ms <= f.start_ms) continue;  // rerouted before launch: nothing ran on the device
    events_.push_back(json{{"name", graph[f.task].name + " (failed)"}, {"cat", "fallback"}, {"ph", "X"},
                           {"ts", us(f.start_ms)}, {"dur", (f.end_ms - f.start_ms) * 1000.0}, {"pid", 1},
                           {"tid", tid(f.device)}, {"args", {{"task", f.task}, {"error", f.error}}}}
                          .dump());
  }
  const int transfer_tid = static_cast<int>(devices_.size()) + 1;
  for (const Transfer& x : derive_transfers(graph, devices_, report)) {
    const bool to_host = devices_[static_cast<std::size_t>(x.to)].is_cpu;
    const bool from_host = devices_[static_cast<std::size_t>(x.from)].is_cpu;
    const char* dir = from_host ? "host→device" : to_host ? "device→host" : "device→device";
    events_.push_back(json{{"name", std::string(dir) + " for " + graph[x.task].name}, {"cat", "transfer"},
                           {"ph", "i"}, {"s", "t"}, {"ts", us(x.at_ms)}, {"pid", 1}, {"tid", transfer_tid},
                           {"args",
                            {{"bytes", x.bytes},
                             {"from", devices_[static_cast<std::size_t>(x.from)].spec},
                             {"to", devices_[static_cast<std::size_t>(x.to)].spec},
                             {"task", x.task},
                             {"note", "derived; zero-copy on PoCL"}}}}
                          .dump());
  }
  for (std::size_t i = 0; i < graph.size(); ++i) {
    const TaskRun& r = report.runs[i];
    if (r.device < 0) continue;
    for (TaskId dep : graph[static_cast<TaskId>(i)].deps) {
      const TaskRun& p = report.runs[dep];
      if (p.device < 0 || p.device == r.device) continue;
      const std::uint64_t id = next_flow_++;
      events_.push_back(json{{"name", "dependency"}, {"cat", "flow"}, {"ph", "s"}, {"id", id},
                             {"ts", us((p.start_ms + p.end_ms) / 2)}, {"pid", 1}, {"tid", tid(p.device)}}
                            .dump());
      events_.push_back(json{{"name", "dependency"}, {"cat", "flow"}, {"ph", "f"}, {"bp", "e"}, {"id", id},
                             {"ts", us(r.start_ms)}, {"pid", 1}, {"tid", tid(r.device)}}
                            .dump());
    }
  }
}

void Trace::add_comm_spans(const std::vector<CommSpan>& spans) {
  if (spans.empty()) return;
  const int tid = static_cast<int>(devices_.size()) + 2;
  if (!has_comm_track_) {
    events_.push_back(json{{"name", "thread_name"}, {"ph", "M"}, {"pid", 1}, {"tid", tid},
                           {"args", {{"name", "comm (allreduce across ranks)"}}}}
                          .dump());
    events_.push_back(json{{"name", "thread_sort_index"}, {"ph", "M"}, {"pid", 1}, {"tid", tid},
                           {"args", {{"sort_index", tid}}}}
                          .dump());
    has_comm_track_ = true;
  }
  if (!has_origin_) {
    origin_ = spans.front().start;
    has_origin_ = true;
  }
  for (const CommSpan& c : spans) {
    const double ts = std::chrono::duration<double, std::micro>(c.start - origin_).count();
    const double dur = std::chrono::duration<double, std::micro>(c.end - c.start).count();
    events_.push_back(json{{"name", c.name}, {"cat", "comm"}, {"ph", "X"}, {"ts", ts}, {"dur", dur}, {"pid", 1},
                           {"tid", tid}, {"args", {{"bytes", c.bytes}, {"parameters", c.parameters}}}}
                          .dump());
  }
}

std::string Trace::text() const {
  std::string s = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
  for (std::size_t i = 0; i < events_.size(); ++i) {
    if (i > 0) s += ",\n";
    s += events_[i];
  }
  s += "\n]}\n";
  return s;
}

void Trace::write(const std::filesystem::path& path) const {
  const std::string content = text();
  io::write_file_atomically(path, [&](std::ostream& out) { out << content; });
}

}  // namespace tandem::sched
