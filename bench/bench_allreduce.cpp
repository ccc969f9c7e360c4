// bench_allreduce TRACE.json [--skip N]: how much of a data-parallel run's allreduce time was
// hidden behind the backward pass, from rank 0's Chrome trace (`tandem finetune --trace` under
// mpirun; bench/bench_allreduce.sh makes one for GPT-2 small shapes).
//
// Backward windows: the trace's task events sorted by start, each maximal run of consecutive
// "backward" events (no forward or optimizer event between them) spans one window, from its
// first start to its last end: the time the step's backward pass was running on this rank. A
// comm span's hidden time is its overlap with the windows; the rest is exposed (the step
// waited for it after backward). Steps are counted by windows; --skip N drops the first N
// windows' steps (the first step includes the ranks' start-up skew). Prints one JSON object.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

struct Interval {
  double start = 0, end = 0;  // µs
};

double overlap(const Interval& a, const Interval& b) {
  return std::max(0.0, std::min(a.end, b.end) - std::max(a.start, b.start));
}

struct Events {
  std::vector<std::pair<Interval, bool>> tasks;  // (interval, is backward), by start
  std::vector<Interval> comm;
};

Events read_events(const nlohmann::json& trace) {
  Events ev;
  for (const nlohmann::json& e : trace.at("traceEvents")) {
    if (e.value("ph", "") != "X") continue;
    const double ts = e.at("ts").get<double>();
    const Interval span{ts, ts + e.at("dur").get<double>()};
    const std::string cat = e.value("cat", "");
    if (cat == "comm") ev.comm.push_back(span);
    else if (cat == "forward" || cat == "backward" || cat == "optimizer") ev.tasks.emplace_back(span, cat == "backward");
  }
  std::sort(ev.tasks.begin(), ev.tasks.end(), [](const auto& a, const auto& b) { return a.first.start < b.first.start; });
  return ev;
}

std::vector<Interval> backward_windows(const Events& ev) {
  std::vector<Interval> windows;
  bool open = false;
  for (const auto& [span, backward] : ev.tasks) {
    if (!backward) {
      open = false;
      continue;
    }
    if (!open) windows.push_back(span);
    windows.back().end = std::max(windows.back().end, span.end);
    open = true;
  }
  return windows;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_allreduce TRACE.json [--skip N]\n");
    return 2;
  }
  int skip = 0;
  for (int i = 2; i + 1 < argc; i += 2)
    if (std::string(argv[i]) == "--skip") skip = std::stoi(argv[i + 1]);
  std::ifstream in(argv[1]);
  if (!in) {
    std::fprintf(stderr, "bench_allreduce: %s: cannot open the trace\n", argv[1]);
    return 1;
  }
  nlohmann::json trace;
  try {
    in >> trace;
  } catch (const nlohmann::json::exception& e) {
    std::fprintf(stderr, "bench_allreduce: %s: not a JSON trace: %s\n", argv[1], e.what());
    return 1;
  }
  const Events ev = read_events(trace);
  std::vector<Interval> windows = backward_windows(ev);
  if (windows.size() <= static_cast<std::size_t>(skip)) {
    std::fprintf(stderr, "bench_allreduce: %s: %zu backward windows, nothing left after --skip %d\n", argv[1],
                 windows.size(), skip);
    return 1;
  }
  const double from = windows[static_cast<std::size_t>(skip)].start;
  windows.erase(windows.begin(), windows.begin() + skip);
  double total = 0, hidden = 0, backward = 0, last_end_after_backward = 0;
  int spans = 0;
  for (const Interval& w : windows) backward += w.end - w.start;
  for (const Interval& c : ev.comm) {
    if (c.start < from) continue;
    ++spans;
    total += c.end - c.start;
    for (const Interval& w : windows) hidden += overlap(c, w);
  }
  // Per step, how long the last allreduce ran past the end of backward (the exposed tail).
  for (std::size_t i = 0; i < windows.size(); ++i) {
    const double next = i + 1 < windows.size() ? windows[i + 1].start : 1e300;
    double tail = 0;
    for (const Interval& c : ev.comm)
      if (c.start >= windows[i].start && c.start < next) tail = std::max(tail, c.end - windows[i].end);
    last_end_after_backward += tail;
  }
  const nlohmann::json out = {
      {"trace", argv[1]},
      {"steps", windows.size()},
      {"allreduce_spans", spans},
      {"allreduce_ms", total / 1000},
      {"hidden_ms", hidden / 1000},
      {"exposed_ms", (total - hidden) / 1000},
      {"hidden_share", total > 0 ? hidden / total : 0.0},
      {"backward_ms", backward / 1000},
      {"tail_after_backward_ms_per_step", last_end_after_backward / 1000 / static_cast<double>(windows.size())}};
  std::cout << out.dump(2) << "\n";
  return 0;
}
