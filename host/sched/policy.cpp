#include "sched/policy.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <map>
#include <numeric>
#include <ostream>
#include <sstream>

#include "tandem/error.hpp"

namespace tandem::sched {

namespace {

using graph::Task;
using graph::TaskGraph;

std::string fmt_ms(double ms) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(ms < 1 ? 4 : 2) << ms;
  return s.str();
}

std::string normalize_spec(const std::string& spec) { return spec == "opencl" ? "opencl:0" : spec; }

std::string task_label(const Task& t) {
  return "task " + std::to_string(t.id) + " (" + t.name + ", layer " + std::to_string(t.scope.layer) + ", " +
         std::string(phase_name(t.scope.phase)) + ")";
}

// Backward ops add into their gradients and AdamW updates its parameter and moments in
// place: their written bytes must be valid on the device before they run.
bool reads_its_writes(OpKind kind) {
  return kind == OpKind::AdamW || op_name(kind).ends_with("_backward");
}

// A fallback to the CPU, or the strict-mode error for it.
TaskPlacement fallback(const Task& t, const std::string& why, const PolicyOptions& options) {
  if (options.strict) throw Error("strict placement: " + task_label(t) + ": " + why);
  return {0, "fallback: " + why + "; cpu", 0, false};
}

std::size_t overlap_bytes(const graph::Region& a, const graph::Region& b) {
  return a.overlaps(b) ? std::min(a.end, b.end) - std::max(a.begin, b.begin) : 0;
}

// What each task needs: what it reads, plus what it updates in place.
std::vector<graph::Region> needed_regions(const Task& t) {
  std::vector<graph::Region> needed = t.reads;
  if (reads_its_writes(t.kind)) needed.insert(needed.end(), t.writes.begin(), t.writes.end());
  return needed;
}

// The list scheduler shared by heft and simulate: tasks in upward-rank order, each started
// in the earliest idle slot of its device that begins after its inputs are on it and is long
// enough (the insertion policy of Topcuoglu et al. 2002), so a task taken late can fill a
// gap left before an earlier-taken one. A device runs one task at a time; this holds for the
// CPU too, since its predictions are for an op using every core (its peaks are measured so).
// A copy made for one reader serves later readers on that device too, but not before it
// arrived.
class Timeline {
 public:
  struct Estimate {
    double data_ready = 0;  // dependencies done and inputs on the device
    double start = 0, end = 0;
    Prediction run;
    std::vector<std::pair<const void*, double>> fetched;  // buffers copied to the device, and when each arrives
  };

  Timeline(const TaskGraph& graph, const CostModel& cost, Residency& residency, const PolicyOptions& options)
      : cost_(cost), residency_(residency), busy_(cost.size()), not_before_(cost.size(), 0.0),
        finish_(graph.size(), 0.0), needed_(graph.size()) {
    if (options.first_step)
      for (std::size_t d = 0; d < not_before_.size(); ++d) not_before_[d] = cost.startup_ms(static_cast<int>(d));
    for (const Task& t : graph.tasks())
      for (const graph::Region& r : needed_regions(t)) {
        Needed n{r, {}};
        for (graph::TaskId dep : t.deps)
          for (const graph::Region& w : graph[dep].writes)
            if (w.overlaps(r)) {
              n.producers.push_back(dep);
              break;
            }
        needed_[t.id].push_back(std::move(n));
      }
  }

  [[nodiscard]] Estimate estimate(const Task& t, int d) const {
    Estimate e;
    double ready = not_before_[static_cast<std::size_t>(d)];
    for (graph::TaskId dep : t.deps) ready = std::max(ready, finish_[dep]);
    const std::vector<Needed>& needed = needed_[t.id];
    for (const Needed& n : needed) ready = std::max(ready, fetch(n, d, e));
    e.run = cost_.predict(t, d);
    e.data_ready = ready;
    e.start = earliest_slot(d, e.data_ready, e.run.ms);
    e.end = e.start + e.run.ms;
    return e;
  }

  void commit(const Task& t, int d, const Estimate& e) {
    finish_[t.id] = e.end;
    std::vector<Interval>& busy = busy_[static_cast<std::size_t>(d)];
    busy.insert(std::upper_bound(busy.begin(), busy.end(), Interval{e.start, e.end},
                                 [](const Interval& a, const Interval& b) { return a.start < b.start; }),
                {e.start, e.end});
    for (const auto& [storage, arrives] : e.fetched) {
      double& at = arrival_[{storage, d}];
      at = std::max(at, arrives);
    }
    for (const graph::Region& r : t.reads) residency_.add_copy(r, d);
    for (const graph::Region& r : t.writes) residency_.write(r, d);
  }

  [[nodiscard]] double makespan() const {
    return finish_.empty() ? 0.0 : *std::max_element(finish_.begin(), finish_.end());
  }

 private:
  struct Interval {
    double start, end;
  };
  // A region a task reads (or updates in place) and the dependencies that wrote it.
  struct Needed {
    graph::Region region;
    std::vector<graph::TaskId> producers;
  };

  // When @p n's bytes are on device @p d, recording a copy in @p e. A copy is issued as soon
  // as its source is valid (its producers done, or its own copy there arrived) and overlaps
  // with compute and with other copies: the model has no PCIe contention.
  double fetch(const Needed& n, int d, Estimate& e) const {
    const graph::Region& r = n.region;
    if (residency_.missing_bytes(r, d) == 0) {
      auto it = arrival_.find({r.storage, d});
      return it == arrival_.end() ? 0.0 : it->second;
    }
    const double bytes = double(residency_.missing_bytes(r, d));
    // Neither end takes a copy before its startup (a card's buffers need its bitstream).
    double produced = not_before_[static_cast<std::size_t>(d)];
    for (graph::TaskId p : n.producers) produced = std::max(produced, finish_[p]);
    auto source_ready = [&](int h) {
      auto it = arrival_.find({r.storage, h});
      return std::max({produced, not_before_[static_cast<std::size_t>(h)], it == arrival_.end() ? 0.0 : it->second});
    };
    const DeviceMask holders = residency_.holders(r);
    double arrives = std::numeric_limits<double>::infinity();
    for (int h = 0; h < static_cast<int>(cost_.size()); ++h)
      if (holders & device_bit(h)) arrives = std::min(arrives, source_ready(h) + cost_.transfer_ms(h, d, bytes));
    // Pieces written on different devices: no one holder has it all; charge the dearest.
    if (!std::isfinite(arrives)) {
      arrives = 0;
      for (int h = 0; h < static_cast<int>(cost_.size()); ++h)
        arrives = std::max(arrives, source_ready(h) + cost_.transfer_ms(h, d, bytes));
    }
    e.fetched.emplace_back(r.storage, arrives);
    return arrives;
  }

  // The earliest start >= @p ready of a @p run-long idle slot on device @p d.
  [[nodiscard]] double earliest_slot(int d, double ready, double run) const {
    const std::vector<Interval>& busy = busy_[static_cast<std::size_t>(d)];
    // The first interval that might end after ready: intervals are disjoint and sorted by
    // start, so also by end.
    auto it = std::lower_bound(busy.begin(), busy.end(), ready,
                               [](const Interval& a, double t) { return a.end <= t; });
    double start = ready;
    for (; it != busy.end(); ++it) {
      if (start + run <= it->start) return start;
      start = std::max(start, it->end);
    }
    return start;
  }

  const CostModel& cost_;
  Residency& residency_;
  std::vector<std::vector<Interval>> busy_;  // per device, sorted by start, disjoint
  std::vector<double> not_before_, finish_;
  std::vector<std::vector<Needed>> needed_;  // per task
  std::map<std::pair<const void*, int>, double> arrival_;
};

// The device holding the state an optimizer task updates in place (its parameter and
// moments), when one device alone holds all of it from an earlier step; -1 otherwise.
int state_device(const Task& t, const CostModel& cost, const Residency& residency) {
  if (t.kind != OpKind::AdamW || t.writes.empty()) return -1;
  DeviceMask mask = ~DeviceMask{0};
  for (const graph::Region& r : t.writes) {
    if (!residency.known(r)) return -1;
    mask &= residency.holders(r);
  }
  for (int d = 0; d < static_cast<int>(cost.size()); ++d)
    if (mask == device_bit(d) && cost.supports(t, d)) return d;
  return -1;
}

// Mean predicted run time over the devices that can run the task.
double mean_run_ms(const Task& t, const CostModel& cost) {
  double sum = 0;
  int n = 0;
  for (int d = 0; d < static_cast<int>(cost.size()); ++d)
    if (cost.supports(t, d)) {
      sum += cost.predict(t, d).ms;
      ++n;
    }
  return n ? sum / n : 0.0;
}

// Mean cost of sending the task's outputs to a consumer, over all ordered device pairs
// (zero on the diagonal), as HEFT averages communication.
double mean_send_ms(const Task& t, const CostModel& cost) {
  double bytes = 0;
  for (const graph::Region& r : t.writes) bytes += double(r.bytes());
  const int n = static_cast<int>(cost.size());
  double sum = 0;
  for (int a = 0; a < n; ++a)
    for (int b = 0; b < n; ++b) sum += cost.transfer_ms(a, b, bytes);
  return sum / double(n * n);
}

// Task ids by decreasing upward rank (ties by id). A task's rank is at least its users', so
// this is a topological order.
std::vector<graph::TaskId> rank_order(const TaskGraph& graph, const CostModel& cost) {
  const std::size_t n = graph.size();
  std::vector<double> rank(n, 0.0);
  for (std::size_t i = n; i-- > 0;) {
    const Task& t = graph.tasks()[i];
    const double send = mean_send_ms(t, cost);
    double tail = 0;
    for (graph::TaskId u : t.users) tail = std::max(tail, send + rank[u]);
    rank[i] = mean_run_ms(t, cost) + tail;
  }
  std::vector<graph::TaskId> order(n);
  std::iota(order.begin(), order.end(), graph::TaskId{0});
  std::stable_sort(order.begin(), order.end(), [&](graph::TaskId a, graph::TaskId b) { return rank[a] > rank[b]; });
  return order;
}

int first_accelerator(const CostModel& cost) {
  for (int d = 1; d < static_cast<int>(cost.size()); ++d)
    if (!cost.device(d).is_cpu) return d;
  return -1;
}

int find_device(const CostModel& cost, const std::string& spec) {
  for (int d = 0; d < static_cast<int>(cost.size()); ++d)
    if (normalize_spec(cost.device(d).spec) == spec) return d;
  return -1;
}

// Bytes of @p t's needed regions that dependency t.deps[i] wrote, per i.
std::vector<double> bytes_from_deps(const TaskGraph& graph, const Task& t) {
  std::vector<double> bytes(t.deps.size(), 0.0);
  for (const graph::Region& r : needed_regions(t))
    for (std::size_t i = 0; i < t.deps.size(); ++i)
      for (const graph::Region& w : graph[t.deps[i]].writes) bytes[i] += double(overlap_bytes(r, w));
  return bytes;
}

// PEFT's optimistic cost table (Arabnejad & Barbosa, IEEE TPDS 2014): oct[t][d] is the
// least time from t's end on d to the end of the graph along its users, each at its best
// device with the transfer of what it reads from t. Added to the finish time it lets the
// greedy choice see that a fast device now may cost a transfer later.
std::vector<std::vector<double>> optimistic_cost_table(const TaskGraph& graph, const CostModel& cost) {
  const std::size_t n_dev = cost.size();
  std::vector<std::vector<double>> oct(graph.size(), std::vector<double>(n_dev, 0.0));
  std::vector<std::vector<std::pair<graph::TaskId, double>>> sends(graph.size());  // producer -> (user, bytes)
  for (const Task& t : graph.tasks()) {
    const std::vector<double> bytes = bytes_from_deps(graph, t);
    for (std::size_t i = 0; i < t.deps.size(); ++i) sends[t.deps[i]].emplace_back(t.id, bytes[i]);
  }
  for (std::size_t i = graph.size(); i-- > 0;) {
    const Task& t = graph.tasks()[i];
    for (std::size_t d = 0; d < n_dev; ++d) {
      double worst = 0;
      for (const auto& [u, bytes] : sends[i]) {
        double best = std::numeric_limits<double>::infinity();
        for (std::size_t e = 0; e < n_dev; ++e)
          if (cost.supports(graph[u], int(e)))
            best = std::min(best, oct[u][e] + cost.predict(graph[u], int(e)).ms +
                                      cost.transfer_ms(int(d), int(e), bytes));
        worst = std::max(worst, best);
      }
      oct[i][d] = t.users.empty() ? 0.0 : worst;
    }
  }
  return oct;
}

// HEFT's device choice by earliest finish; with @p lookahead, by earliest finish plus the
// optimistic cost of the rest of the graph from there (PEFT).
Placement heft_schedule(const TaskGraph& graph, const CostModel& cost, Residency& residency,
                        const PolicyOptions& options, bool lookahead) {
  Placement p;
  p.tasks.resize(graph.size());
  Timeline timeline(graph, cost, residency, options);
  const std::vector<std::vector<double>> oct =
      lookahead ? optimistic_cost_table(graph, cost)
                : std::vector<std::vector<double>>(graph.size(), std::vector<double>(cost.size(), 0.0));
  for (graph::TaskId id : rank_order(graph, cost)) {
    const Task& t = graph[id];
    int best = -1, second = -1;
    Timeline::Estimate best_e, second_e;
    for (int d = 0; d < static_cast<int>(cost.size()); ++d) {
      if (!cost.supports(t, d)) continue;
      const Timeline::Estimate e = timeline.estimate(t, d);
      auto score = [&](int dev, const Timeline::Estimate& x) { return x.end + oct[id][static_cast<std::size_t>(dev)]; };
      if (best < 0 || score(d, e) < score(best, best_e)) {
        second = best, second_e = best_e;
        best = d, best_e = e;
      } else if (second < 0 || score(d, e) < score(second, second_e)) {
        second = d, second_e = e;
      }
    }
    std::string reason = "heft: ends at " + fmt_ms(best_e.end) + " ms on " + cost.device(best).spec;
    if (second >= 0) reason += " vs " + fmt_ms(second_e.end) + " ms on " + cost.device(second).spec;
    if (lookahead && second >= 0)
      reason += " (+ rest of graph " + fmt_ms(oct[id][static_cast<std::size_t>(best)]) + " vs " +
                fmt_ms(oct[id][static_cast<std::size_t>(second)]) + ")";
    else if (t.host_only) reason = "heft: host work runs on the cpu";
    // Moving a parameter and its moments costs this step and the next: the update stays
    // with its state (placed by the first step's finish times).
    if (const int home = state_device(t, cost, residency); home >= 0 && home != best) {
      reason = "heft: stays with its state on " + cost.device(home).spec + " (ends at " + fmt_ms(timeline.estimate(t, home).end) +
               " ms vs " + fmt_ms(best_e.end) + " ms on " + cost.device(best).spec + ")";
      best = home;
      best_e = timeline.estimate(t, home);
    } else if (home >= 0) {
      reason += "; its state lives there";
    }
    timeline.commit(t, best, best_e);
    p.tasks[id] = {best, std::move(reason), best_e.run.ms, best_e.run.modeled()};
  }
  p.predicted_step_ms = timeline.makespan();
  return p;
}

}  // namespace

Policy parse_policy(std::string_view spec) {
  if (spec == "cpu") return {PolicyKind::Cpu, {}};
  if (spec == "fpga") return {PolicyKind::Fpga, {}};
  if (spec == "heft") return {PolicyKind::Heft, {}};
  if (spec.starts_with("rules:") && spec.size() > 6)
    return {PolicyKind::Rules, load_rules(std::string(spec.substr(6)))};
  throw Error("--policy: unknown policy '" + std::string(spec) + "' (cpu, fpga, heft, rules:FILE)");
}

Placement place_cpu(const TaskGraph& graph) {
  Placement p;
  p.tasks.assign(graph.size(), TaskPlacement{0, "policy cpu", 0, false});
  return p;
}

Placement place_fpga(const TaskGraph& graph, const CostModel& cost, const PolicyOptions& options) {
  const int fpga = first_accelerator(cost);
  Placement p;
  for (const Task& t : graph.tasks()) {
    if (fpga < 0) p.tasks.push_back(fallback(t, "policy fpga: no device besides the cpu is open", options));
    else if (!cost.supports(t, fpga)) p.tasks.push_back({0, "policy fpga: host work runs on the cpu", 0, false});
    else p.tasks.push_back({fpga, "policy fpga", 0, false});
  }
  return p;
}

Placement place_rules(const TaskGraph& graph, const CostModel& cost, const Rules& rules,
                      const PolicyOptions& options) {
  Placement p;
  for (const Task& t : graph.tasks()) {
    const Rule* rule = rules.match(t);
    if (!rule) {
      p.tasks.push_back({0, "no rule matches: cpu", 0, false});
      continue;
    }
    const std::string name = "rule " + rules.file + ":" + std::to_string(rule->line) + " '" + rule->text + "'";
    const int d = find_device(cost, rule->device);
    if (d < 0) p.tasks.push_back(fallback(t, name + " names " + rule->device + ", which is not open", options));
    else if (!cost.supports(t, d))
      p.tasks.push_back(fallback(t, name + " names " + rule->device + ", which cannot run " + t.name, options));
    else p.tasks.push_back({d, name, 0, false});
  }
  return p;
}

void simulate(const TaskGraph& graph, Placement& placement, const CostModel& cost, Residency& residency,
              const PolicyOptions& options) {
  if (placement.tasks.size() != graph.size())
    throw Error("simulate: placement has " + std::to_string(placement.tasks.size()) + " tasks, graph has " +
                    std::to_string(graph.size()),
                ErrorCategory::Internal);
  Timeline timeline(graph, cost, residency, options);
  for (graph::TaskId id : rank_order(graph, cost)) {
    TaskPlacement& tp = placement.tasks[id];
    const Timeline::Estimate e = timeline.estimate(graph[id], tp.device);
    timeline.commit(graph[id], tp.device, e);
    tp.predicted_ms = e.run.ms;
    tp.modeled = e.run.modeled();
  }
  placement.predicted_step_ms = timeline.makespan();
}

Placement place_heft(const TaskGraph& graph, const CostModel& cost, Residency& residency,
                     const PolicyOptions& options) {
  const Residency start = residency;
  Placement best = heft_schedule(graph, cost, residency, options, false);
  {
    Residency after = start;
    Placement peft = heft_schedule(graph, cost, after, options, true);
    if (peft.predicted_step_ms < best.predicted_step_ms) {
      best = std::move(peft);
      residency = std::move(after);
    }
  }
  // Greedy EFT can lose to a uniform plan (it cannot see that a later transfer undoes an
  // early gain); never return a plan predicted slower than all-cpu or all-fpga.
  std::vector<std::pair<std::string, Placement>> uniform;
  uniform.emplace_back("cpu", place_cpu(graph));
  if (first_accelerator(cost) >= 0) uniform.emplace_back("fpga", place_fpga(graph, cost, {}));
  for (auto& [name, plan] : uniform) {
    Residency after = start;
    simulate(graph, plan, cost, after, options);
    if (plan.predicted_step_ms < best.predicted_step_ms) {
      const std::string why = "heft: the all-" + name + " plan is faster (" + fmt_ms(plan.predicted_step_ms) +
                              " ms vs " + fmt_ms(best.predicted_step_ms) + " ms)";
      for (TaskPlacement& tp : plan.tasks) tp.reason = why;
      best = std::move(plan);
      residency = std::move(after);
    }
  }
  return best;
}

Placement place(const Policy& policy, const TaskGraph& graph, std::span<const Device> devices, const CostModel& cost,
                Residency& residency, const PolicyOptions& options) {
  if (devices.size() != cost.size())
    throw Error("place: " + std::to_string(devices.size()) + " devices but a cost model for " +
                    std::to_string(cost.size()),
                ErrorCategory::Internal);
  Placement p;
  switch (policy.kind) {
    case PolicyKind::Heft: return place_heft(graph, cost, residency, options);
    case PolicyKind::Cpu: p = place_cpu(graph); break;
    case PolicyKind::Fpga: p = place_fpga(graph, cost, options); break;
    case PolicyKind::Rules: p = place_rules(graph, cost, policy.rules, options); break;
  }
  simulate(graph, p, cost, residency, options);
  return p;
}

namespace {

// The least T such that @p set, each task split fractionally between the devices at their
// predicted speeds, fits in T on every device. Every plan needs at least this long to run the
// set, since a device runs one task at a time. Two devices: fill device 1 up to T with the
// tasks it is relatively best at (a fractional knapsack by speed ratio; exact for the
// fractional relaxation), check the rest fits in T on device 0, bisect on T. Otherwise the
// sum of fastest times over the number of devices, which that never undercuts.
double parallel_work_ms(std::span<const Task* const> set, const CostModel& cost) {
  const int n_dev = static_cast<int>(cost.size());
  const double inf = std::numeric_limits<double>::infinity();
  double total = 0, longest = 0;
  for (const Task* t : set) {
    double f = inf;
    for (int d = 0; d < n_dev; ++d)
      if (cost.supports(*t, d)) f = std::min(f, cost.predict(*t, d).ms);
    total += f;
    longest = std::max(longest, f);
  }
  // Each task runs whole on one device, so the set takes at least its longest task.
  const double even = std::max(total / n_dev, longest);
  if (n_dev != 2 || set.empty()) return even;
  struct Pair {
    double p0, p1;
  };
  std::vector<Pair> pairs;
  for (const Task* t : set) pairs.push_back({cost.predict(*t, 0).ms, cost.supports(*t, 1) ? cost.predict(*t, 1).ms : inf});
  auto ratio = [&](const Pair& p) { return p.p1 > 0 ? p.p0 / p.p1 : inf; };
  std::sort(pairs.begin(), pairs.end(), [&](const Pair& a, const Pair& b) { return ratio(a) > ratio(b); });
  auto fits = [&](double T) {
    double room = T, left = 0;
    for (const Pair& p : pairs) {
      if (p.p1 <= room) {
        room -= p.p1;
      } else if (std::isfinite(p.p1)) {
        left += (1 - room / p.p1) * p.p0;
        room = 0;
      } else {
        left += p.p0;
      }
    }
    return left <= T;
  };
  double lo = even, hi = 0;
  for (const Pair& p : pairs) hi += p.p0;
  for (int i = 0; i < 100 && hi - lo > 1e-9 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (fits(mid) ? hi : lo) = mid;
  }
  return std::max(even, lo);
}

// Parallel branches that join (the q, k and v matmuls feeding attention) cannot all run at
// once: a task starts no earlier than the earliest start of its dependencies plus the time
// the devices need to run all of them, one task at a time each. @p start_lb holds a lower
// bound on each dependency's start.
double join_bound_ms(const TaskGraph& graph, const Task& t, const std::vector<double>& start_lb,
                     const CostModel& cost) {
  if (t.deps.size() < 2) return 0;
  std::vector<const Task*> deps;
  double earliest = std::numeric_limits<double>::infinity();
  for (graph::TaskId dep : t.deps) {
    deps.push_back(&graph[dep]);
    earliest = std::min(earliest, start_lb[dep]);
  }
  return earliest + parallel_work_ms(deps, cost);
}

// Per dependency i of @p t, the most bytes it wrote into any one region @p t needs. The
// timing model fetches each region as its own copy, all at once, so this is the least any
// plan moves, in one copy, after dependency i ends on another device.
std::vector<double> largest_piece_from_deps(const TaskGraph& graph, const Task& t) {
  std::vector<double> bytes(t.deps.size(), 0.0);
  for (const graph::Region& r : needed_regions(t))
    for (std::size_t i = 0; i < t.deps.size(); ++i) {
      double piece = 0;
      for (const graph::Region& w : graph[t.deps[i]].writes) piece += double(overlap_bytes(r, w));
      bytes[i] = std::max(bytes[i], piece);
    }
  return bytes;
}

// The critical_path_transfers bound: finish[t][d] = run(t, d) + the latest of, over t's
// dependencies p, min over p's device d' of finish[p][d'] + transfer(d' -> d, the largest
// piece p wrote that t needs), and the join bound above. Initial data is not charged: its
// copies may start at time 0, and other readers may bring parts of it earlier.
double critical_path_with_transfers(const TaskGraph& graph, const CostModel& cost) {
  const int n_dev = static_cast<int>(cost.size());
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<std::vector<double>> finish(graph.size(), std::vector<double>(static_cast<std::size_t>(n_dev), inf));
  std::vector<double> start_lb(graph.size(), inf);
  double bound = 0;
  for (const Task& t : graph.tasks()) {
    const std::vector<double> dep_bytes = largest_piece_from_deps(graph, t);
    const double join = join_bound_ms(graph, t, start_lb, cost);
    double best = inf;
    for (int d = 0; d < n_dev; ++d) {
      if (!cost.supports(t, d)) continue;
      double ready = join;
      for (std::size_t i = 0; i < t.deps.size(); ++i) {
        double from = inf;
        for (int src = 0; src < n_dev; ++src)
          from = std::min(from, finish[t.deps[i]][static_cast<std::size_t>(src)] + cost.transfer_ms(src, d, dep_bytes[i]));
        ready = std::max(ready, from);
      }
      const double run = cost.predict(t, d).ms;
      finish[t.id][static_cast<std::size_t>(d)] = ready + run;
      start_lb[t.id] = std::min(start_lb[t.id], ready);
      best = std::min(best, ready + run);
    }
    bound = std::max(bound, best);
  }
  return bound;
}

// The longest dependency chain with each task at its fastest device, no transfers, and the
// join bound above.
double critical_path(const TaskGraph& graph, const CostModel& cost) {
  std::vector<double> start_lb(graph.size(), 0.0);
  double bound = 0;
  for (const Task& t : graph.tasks()) {
    double start = join_bound_ms(graph, t, start_lb, cost);
    for (graph::TaskId dep : t.deps) {
      const Task* one[] = {&graph[dep]};
      start = std::max(start, start_lb[dep] + parallel_work_ms(one, cost));
    }
    start_lb[t.id] = start;
    const Task* self[] = {&t};
    bound = std::max(bound, start + parallel_work_ms(self, cost));
  }
  return bound;
}

}  // namespace

LowerBound lower_bound(const TaskGraph& graph, const CostModel& cost) {
  LowerBound lb;
  lb.critical_path_transfers_ms = critical_path_with_transfers(graph, cost);
  lb.critical_path_ms = critical_path(graph, cost);
  std::vector<const Task*> all;
  for (const Task& t : graph.tasks()) all.push_back(&t);
  lb.work_ms = parallel_work_ms(all, cost);
  return lb;
}

void print_explain(std::ostream& out, const TaskGraph& graph, const Placement& placement,
                   std::span<const Device> devices) {
  std::size_t op_w = 2, dev_w = 6;
  for (const Task& t : graph.tasks()) op_w = std::max(op_w, t.name.size());
  for (const Device& d : devices) dev_w = std::max(dev_w, d.spec.size());
  out << std::left << std::setw(6) << "task" << std::setw(int(op_w) + 2) << "op" << std::setw(7) << "layer"
      << std::setw(11) << "phase" << std::setw(int(dev_w) + 2) << "device" << std::right << std::setw(12)
      << "predict ms" << "  " << "reason\n";
  for (const Task& t : graph.tasks()) {
    const TaskPlacement& tp = placement.tasks.at(t.id);
    const std::string layer = t.scope.layer < 0 ? "-" : std::to_string(t.scope.layer);
    const std::string& dev = devices[static_cast<std::size_t>(tp.device)].spec;
    out << std::left << std::setw(6) << t.id << std::setw(int(op_w) + 2) << t.name << std::setw(7) << layer
        << std::setw(11) << phase_name(t.scope.phase) << std::setw(int(dev_w) + 2) << dev << std::right
        << std::setw(11) << fmt_ms(tp.predicted_ms) << (tp.modeled ? "*" : " ") << "  " << tp.reason << '\n';
  }
  out << "predicted step: " << fmt_ms(placement.predicted_step_ms) << " ms"
      << (std::any_of(placement.tasks.begin(), placement.tasks.end(), [](const TaskPlacement& tp) { return tp.modeled; })
              ? " (* modeled: analytical FPGA model)"
              : "")
      << '\n';
}

}  // namespace tandem::sched
