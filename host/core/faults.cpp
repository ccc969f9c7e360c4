#include "core/faults.hpp"

#include <array>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "tandem/error.hpp"

namespace tandem::faults {
namespace {

struct Schedule {
  std::vector<std::int64_t> events;  // fail exactly these
  std::int64_t from = 0;             // > 0: fail every event from this one on
  [[nodiscard]] bool fails(std::int64_t n) const {
    if (from > 0 && n >= from) return true;
    for (std::int64_t e : events)
      if (e == n) return true;
    return false;
  }
};

struct PointState {
  std::atomic<std::int64_t> count{0};
  std::atomic<bool> armed{false};
  Schedule schedule;
};

constexpr std::size_t kPoints = 4;
constexpr std::array<const char*, kPoints> kNames = {"launch", "transfer", "allocation", "file write"};
constexpr std::array<const char*, kPoints> kVariables = {"TANDEM_FAULT_LAUNCH", "TANDEM_FAULT_TRANSFER",
                                                         "TANDEM_FAULT_ALLOC", "TANDEM_FAULT_FILE_WRITE"};

std::array<PointState, kPoints>& states() {
  static std::array<PointState, kPoints> s;
  return s;
}
std::mutex& schedule_mutex() {
  static std::mutex m;
  return m;
}

std::int64_t parse_event(std::string_view text, std::string_view schedule) {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n < 1)
    throw Error("fault schedule \"" + std::string(schedule) + "\": expected N, N,M,... or N+ with N >= 1");
  return n;
}

Schedule parse(std::string_view schedule) {
  Schedule s;
  if (schedule.empty()) return s;
  if (schedule.back() == '+') {
    s.from = parse_event(schedule.substr(0, schedule.size() - 1), schedule);
    return s;
  }
  for (std::size_t start = 0; start <= schedule.size();) {
    const std::size_t comma = std::min(schedule.find(',', start), schedule.size());
    s.events.push_back(parse_event(schedule.substr(start, comma - start), schedule));
    start = comma + 1;
  }
  return s;
}

void install(Point point, std::string_view schedule) {
  PointState& st = states()[static_cast<std::size_t>(point)];
  st.schedule = parse(schedule);
  st.count.store(0);
  st.armed.store(st.schedule.from > 0 || !st.schedule.events.empty());
}

// The environment is read once, before the first event of any point.
void load_environment() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::lock_guard lock(schedule_mutex());
    for (std::size_t i = 0; i < kVariables.size(); ++i)
      if (const char* v = std::getenv(kVariables[i])) install(static_cast<Point>(i), v);
  });
}

}  // namespace

void check(Point point, std::string_view what) {
  load_environment();
  PointState& st = states()[static_cast<std::size_t>(point)];
  const std::int64_t n = st.count.fetch_add(1, std::memory_order_relaxed) + 1;
  if (!st.armed.load(std::memory_order_relaxed)) return;
  std::lock_guard lock(schedule_mutex());
  if (st.schedule.fails(n))
    throw Error(std::string(what) + ": injected fault (" + kNames[static_cast<std::size_t>(point)] + " #" +
                    std::to_string(n) + ")",
                point == Point::FileWrite ? ErrorCategory::Io : ErrorCategory::Device);
}

void set_schedule(Point point, std::string_view schedule) {
  load_environment();
  std::lock_guard lock(schedule_mutex());
  install(point, schedule);
}

std::int64_t count(Point point) { return states()[static_cast<std::size_t>(point)].count.load(); }

}  // namespace tandem::faults
