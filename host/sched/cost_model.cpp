#include "sched/cost_model.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "bitstream/manifest.hpp"
#include "io/atomic_file.hpp"
#include "tandem/error.hpp"

namespace tandem::sched {

namespace {

using json = nlohmann::json;

// Used when a device has neither a model, a measurement nor measured peaks, so that the
// policies can still order work; such predictions are labelled "guess".
constexpr double kGuessGflops = 10, kGuessGbps = 10;

bool is_gemm_like(OpKind kind) {
  switch (kind) {
    case OpKind::MatMul: case OpKind::MatMulBackward:
    case OpKind::Lora: case OpKind::LoraBackward:
    case OpKind::Attention: case OpKind::AttentionBackward:
      return true;
    default:
      return false;
  }
}

double roofline_ms(const OpCost& cost, double gflops, double gbps) {
  return std::max(cost.flops / (gflops * 1e6), cost.bytes / (gbps * 1e6));
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string machine_name() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "localhost";
  return host;
}

std::string file_safe(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return out;
}

double number_field(const json& obj, const char* key, const std::string& where, double min) {
  if (!obj.contains(key) || !obj[key].is_number())
    throw Error(where + ": missing number \"" + key + "\"", ErrorCategory::Io);
  const double v = obj[key].get<double>();
  if (!(v >= min)) throw Error(where + ": \"" + key + "\" must be >= " + std::to_string(min), ErrorCategory::Io);
  return v;
}

TransferCurve curve_from_json(const json& j, const std::string& where) {
  TransferCurve c;
  if (!j.is_object()) throw Error(where + ": expected an object with latency_us and gbps_by_bytes", ErrorCategory::Io);
  c.latency_us = number_field(j, "latency_us", where, 0);
  if (!j.contains("gbps_by_bytes") || !j["gbps_by_bytes"].is_array())
    throw Error(where + ": missing array \"gbps_by_bytes\"", ErrorCategory::Io);
  for (const json& p : j["gbps_by_bytes"]) {
    if (!p.is_array() || p.size() != 2 || !p[0].is_number() || !p[1].is_number() || p[0].get<double>() <= 0 ||
        p[1].get<double>() <= 0)
      throw Error(where + ": gbps_by_bytes entries must be [bytes > 0, GB/s > 0]", ErrorCategory::Io);
    c.gbps_by_bytes.emplace_back(p[0].get<double>(), p[1].get<double>());
  }
  std::sort(c.gbps_by_bytes.begin(), c.gbps_by_bytes.end());
  return c;
}

json curve_to_json(const TransferCurve& c) {
  json points = json::array();
  for (const auto& [bytes, gbps] : c.gbps_by_bytes) points.push_back({bytes, gbps});
  return {{"latency_us", c.latency_us}, {"gbps_by_bytes", points}};
}

}  // namespace

double TransferCurve::ms(double bytes) const {
  if (bytes <= 0) return 0;
  if (gbps_by_bytes.empty()) return latency_us * 1e-3;
  double gbps = gbps_by_bytes.front().second;
  if (bytes >= gbps_by_bytes.back().first) {
    gbps = gbps_by_bytes.back().second;
  } else if (bytes > gbps_by_bytes.front().first) {
    auto hi = std::lower_bound(gbps_by_bytes.begin(), gbps_by_bytes.end(), std::pair{bytes, 0.0});
    auto lo = std::prev(hi);
    const double t = std::log(bytes / lo->first) / std::log(hi->first / lo->first);
    gbps = lo->second + t * (hi->second - lo->second);
  }
  return latency_us * 1e-3 + bytes / (gbps * 1e6);
}

double FpgaModel::predict_ms(const graph::Task& task) const {
  const double memory_ms = task.cost.bytes / (memory_gbps * 1e6);
  // GEMM-like ops run on the systolic array; the rest stream one element per lane per cycle
  // through a pipelined datapath, so their compute time follows the elements, not the FLOPs.
  const double compute_ms = is_gemm_like(task.kind) ? task.cost.flops / (gemm_gflops() * 1e6)
                                                    : (task.cost.bytes / 4.0) / (vector_lanes * clock_mhz * 1e3);
  return launch_us * 1e-3 + std::max(memory_ms, compute_ms);
}

// The manifest loader validates the whole file against the schema (host/bitstream/manifest.cpp);
// what is left here is the check that needs two fields at once.
FpgaModel load_fpga_model(const std::string& card, const std::filesystem::path& bitstream_dir) {
  const std::filesystem::path path = bitstream::manifest_path(card, bitstream_dir);
  const bitstream::PerformanceModel m = bitstream::load_manifest(path).performance_model;
  const std::string where = path.string() + ": /performance_model";
  FpgaModel f;
  f.card = card;
  f.clock_mhz = m.clock_mhz;
  f.gemm_rows = m.gemm_rows;
  f.gemm_cols = m.gemm_cols;
  f.dsps = m.dsps;
  f.dsp_per_mac = m.dsp_per_fp32_mac;
  f.vector_lanes = m.vector_lanes;
  f.memory_gbps = m.memory_gbps;
  f.launch_us = m.kernel_launch_us;
  f.bitstream_load_ms = m.bitstream_load_ms;
  auto to_curve = [](const bitstream::TransferPoints& t) {
    TransferCurve c{t.latency_us, t.gbps_by_bytes};
    std::sort(c.gbps_by_bytes.begin(), c.gbps_by_bytes.end());
    return c;
  };
  f.to_device = to_curve(m.host_to_card);
  f.to_host = to_curve(m.card_to_host);
  const long need = long(f.gemm_rows) * f.gemm_cols * f.dsp_per_mac;
  if (need > f.dsps)
    throw Error(where + ": a " + std::to_string(f.gemm_rows) + "x" + std::to_string(f.gemm_cols) + " array needs " +
                    std::to_string(need) + " DSPs, the card has " + std::to_string(f.dsps),
                ErrorCategory::Io);
  return f;
}

std::optional<double> DeviceHistory::median_ms(const std::string& key) const {
  auto it = samples_ms.find(key);
  if (it == samples_ms.end() || it->second.empty()) return std::nullopt;
  return median(it->second);
}

std::filesystem::path history_dir() {
  std::filesystem::path base;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) base = xdg;
  else if (const char* home = std::getenv("HOME"); home && *home) base = std::filesystem::path(home) / ".local/share";
  else base = ".";
  return base / "tandem" / "history" / file_safe(machine_name());
}

std::filesystem::path history_path(const std::string& device) { return history_dir() / (file_safe(device) + ".json"); }

DeviceHistory load_history(const std::filesystem::path& path, const std::string& device) {
  DeviceHistory h;
  h.device = device;
  if (!std::filesystem::exists(path)) return h;
  std::ifstream in(path);
  const json j = json::parse(in, nullptr, false);
  const std::string where = path.string();
  if (j.is_discarded() || !j.is_object() || !j.contains("ops") || !j["ops"].is_object())
    throw Error(where + ": expected a JSON object with an object \"ops\"", ErrorCategory::Io);
  h.peak_gflops = number_field(j, "peak_gflops", where, 0);
  h.peak_gbps = number_field(j, "peak_gbps", where, 0);
  if (j.contains("to_device")) h.to_device = curve_from_json(j["to_device"], where + ": to_device");
  if (j.contains("to_host")) h.to_host = curve_from_json(j["to_host"], where + ": to_host");
  for (const auto& [key, samples] : j["ops"].items()) {
    if (!samples.is_array()) throw Error(where + ": ops \"" + key + "\" must be an array of ms", ErrorCategory::Io);
    for (const json& s : samples) {
      if (!s.is_number() || s.get<double>() < 0)
        throw Error(where + ": ops \"" + key + "\" holds a sample that is not a time >= 0", ErrorCategory::Io);
      h.samples_ms[key].push_back(s.get<double>());
    }
  }
  return h;
}

void save_history(const std::filesystem::path& path, const DeviceHistory& history) {
  json ops = json::object();
  for (const auto& [key, samples] : history.samples_ms) ops[key] = samples;
  json j = {{"version", 1},         {"machine", machine_name()},         {"device", history.device},
            {"peak_gflops", history.peak_gflops}, {"peak_gbps", history.peak_gbps}, {"ops", ops}};
  if (!history.to_device.empty()) j["to_device"] = curve_to_json(history.to_device);
  if (!history.to_host.empty()) j["to_host"] = curve_to_json(history.to_host);
  std::filesystem::create_directories(path.parent_path());
  const std::string text = j.dump(1);
  io::write_file_atomically(path, [&](std::ostream& out) { out << text << '\n'; });
}

std::string op_key(const graph::Task& task) {
  std::string key = task.name;
  for (const Tensor& t : task.keep) key += t.defined() ? t.shape().str() : "-";
  return key;
}

std::string_view source_name(Prediction::Source source) noexcept {
  switch (source) {
    case Prediction::Source::Modeled: return "modeled";
    case Prediction::Source::Measured: return "measured";
    case Prediction::Source::Roofline: return "roofline";
    case Prediction::Source::Guess: return "guess";
  }
  return "?";
}

CostModel::CostModel(std::vector<DeviceCost> devices) : devices_(std::move(devices)) {
  if (devices_.empty() || !devices_.front().is_cpu)
    throw Error("cost model: device 0 must be the CPU", ErrorCategory::InvalidArgument);
  if (devices_.size() > 32) throw Error("cost model: at most 32 devices", ErrorCategory::InvalidArgument);
}

bool CostModel::supports(const graph::Task& task, int d) const { return device(d).is_cpu || !task.host_only; }

Prediction CostModel::predict(const graph::Task& task, int d) const {
  const DeviceCost& dev = device(d);
  if (!supports(task, d)) return {std::numeric_limits<double>::infinity(), Prediction::Source::Guess};
  if (dev.model) return {dev.model->predict_ms(task), Prediction::Source::Modeled};
  if (auto m = dev.history.median_ms(op_key(task))) return {*m, Prediction::Source::Measured};
  if (dev.history.peak_gflops > 0 && dev.history.peak_gbps > 0)
    return {roofline_ms(task.cost, dev.history.peak_gflops, dev.history.peak_gbps), Prediction::Source::Roofline};
  return {roofline_ms(task.cost, kGuessGflops, kGuessGbps), Prediction::Source::Guess};
}

bool CostModel::needs_measurement(const graph::Task& task, int d) const {
  const DeviceCost& dev = device(d);
  return supports(task, d) && !dev.model && !dev.history.median_ms(op_key(task));
}

void CostModel::record(const graph::Task& task, int d, double ms) { device(d).history.samples_ms[op_key(task)].push_back(ms); }

double CostModel::transfer_ms(int from, int to, double bytes) const {
  if (from == to || bytes <= 0) return 0;
  auto leg = [&](int d, bool to_device) {
    const DeviceCost& dev = device(d);
    if (dev.is_cpu) return 0.0;
    if (dev.model) return (to_device ? dev.model->to_device : dev.model->to_host).ms(bytes);
    return (to_device ? dev.history.to_device : dev.history.to_host).ms(bytes);
  };
  return leg(from, false) + leg(to, true);
}

double CostModel::startup_ms(int d) const {
  const DeviceCost& dev = device(d);
  return dev.model ? dev.model->bitstream_load_ms : 0.0;
}

namespace {

template <class F>
double median_ms_of(F&& call, int repeats) {
  call();  // warm-up: program builds, page faults, caches
  std::vector<double> ms;
  for (int i = 0; i < std::max(repeats, 1); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    call();
    const auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return median(std::move(ms));
}

Tensor random_tensor(const Shape& shape, std::uint32_t seed) {
  Tensor t = Tensor::empty(shape, DType::F32, Alignment::Page);
  float* p = t.data<float>();
  std::uint32_t s = seed;
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    s = s * 1664525u + 1013904223u;  // LCG: any values in [-1, 1) do for timing
    p[i] = static_cast<float>(s >> 8) / float(1u << 23) - 1.0f;
  }
  return t;
}

}  // namespace

double measure(const graph::Task& task, OpKernels& kernels, int repeats) {
  if (!task.run) throw Error("measure: task " + std::to_string(task.id) + " (" + task.name + ") has nothing to run");
  // Accumulating ops (backward, AdamW) would change the graph's tensors on every call, so
  // every tensor the task writes is copied before and put back after.
  std::vector<std::pair<Tensor, Tensor>> saved;
  for (const Tensor& t : task.keep) {
    if (!t.defined()) continue;
    const graph::Region r = graph::region_of(t);
    for (const graph::Region& w : task.writes)
      if (w.overlaps(r)) {
        saved.emplace_back(t, t.clone());
        break;
      }
  }
  auto restore = [&] {
    for (auto& [tensor, copy] : saved) tensor.copy_from(copy);
  };
  double ms = 0;
  try {
    ms = median_ms_of([&] { task.run(kernels); }, repeats);
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return ms;
}

Peaks measure_peaks(OpKernels& kernels) {
  constexpr std::int64_t n = 512, elems = std::int64_t{1} << 22;
  const Tensor a = random_tensor({n, n}, 1), b = random_tensor({n, n}, 2);
  Tensor c = Tensor::empty({n, n}, DType::F32, Alignment::Page);
  const double gemm_ms = median_ms_of([&] { kernels.matmul(a, b, c, {}); }, 3);
  const Tensor x = random_tensor({elems}, 3), y = random_tensor({elems}, 4);
  Tensor z = Tensor::empty({elems}, DType::F32, Alignment::Page);
  const double add_ms = median_ms_of([&] { kernels.residual_add(x, y, z); }, 3);
  return {2.0 * double(n * n * n) / (gemm_ms * 1e6), 3.0 * 4.0 * double(elems) / (add_ms * 1e6)};
}

TransferCurve measure_transfer(OpKernels& kernels) {
  TransferCurve curve;
  double smallest_ms = 0;
  for (std::int64_t elems : {std::int64_t{1} << 10, std::int64_t{1} << 14, std::int64_t{1} << 18, std::int64_t{1} << 22}) {
    const Tensor x = random_tensor({elems}, 5), y = random_tensor({elems}, 6);
    Tensor z = Tensor::empty({elems}, DType::F32, Alignment::Page);
    const double ms = median_ms_of([&] { kernels.residual_add(x, y, z); }, 5);
    const double bytes = 3.0 * 4.0 * double(elems);
    if (curve.gbps_by_bytes.empty()) {
      smallest_ms = ms;
      curve.latency_us = ms * 1e3;
      continue;
    }
    curve.gbps_by_bytes.emplace_back(bytes, bytes / (std::max(ms - smallest_ms, 1e-6) * 1e6));
  }
  return curve;
}

}  // namespace tandem::sched
