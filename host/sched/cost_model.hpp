#pragma once
// Predicted run time of a task on a device and of moving bytes between devices, from three
// sources, best first:
//  - the analytical FPGA model of a card (bitstreams/<card>/manifest.json), when the device
//    was given one (`fpga_model` option): planning for that card while the kernels execute on
//    the emulation device. Such predictions are flagged modeled;
//  - measured medians per (op, shapes) in the device's history file, StarPU-style;
//  - a roofline from the task's OpCost and the device's measured peak GFLOP/s and GB/s.
// An op with no history is measured (measure()) before its time is trusted.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "graph/task_graph.hpp"
#include "ops/op_kernels.hpp"

namespace tandem::sched {

// Time to move a buffer: latency + bytes / bandwidth(bytes), the bandwidth interpolated
// log-linearly in the buffer size between measured points (clamped at the ends).
struct TransferCurve {
  double latency_us = 0;
  std::vector<std::pair<double, double>> gbps_by_bytes;  // (bytes, GB/s), ascending bytes
  [[nodiscard]] double ms(double bytes) const;
  [[nodiscard]] bool empty() const noexcept { return gbps_by_bytes.empty(); }
};

// A card's performance model from its manifest's "performance_model" object.
struct FpgaModel {
  std::string card;               // "u280"
  double clock_mhz = 0;
  int gemm_rows = 0, gemm_cols = 0;  // systolic array of fp32 MACs
  int dsps = 0;                   // on the card (a check that the array fits)
  int dsp_per_mac = 0;
  int vector_lanes = 0;           // elements per cycle of the non-GEMM kernels
  double memory_gbps = 0;         // device memory (HBM / DDR)
  double launch_us = 0;           // one kernel launch
  double bitstream_load_ms = 0;   // once per process, before the first kernel
  TransferCurve to_device, to_host;  // PCIe by buffer size

  [[nodiscard]] double gemm_gflops() const noexcept { return 2.0 * gemm_rows * gemm_cols * clock_mhz * 1e-3; }
  // Run time of one task on the card: launch + max(compute, device memory traffic).
  [[nodiscard]] double predict_ms(const graph::Task& task) const;
};

// Reads bitstreams/<card>/manifest.json under @p bitstream_dir. A missing file, a field
// missing or out of range, or an array needing more DSPs than the card has is an error
// naming the file and the field.
FpgaModel load_fpga_model(const std::string& card, const std::filesystem::path& bitstream_dir);

// What one machine measured on one device.
struct DeviceHistory {
  std::string device;                  // the backend's name, e.g. "cpu", "opencl:0 (pthread-...)"
  double peak_gflops = 0, peak_gbps = 0;  // 0: not measured yet
  TransferCurve to_device, to_host;    // empty for the CPU
  std::map<std::string, std::vector<double>> samples_ms;  // op key -> measured run times

  // The median of the samples of @p key, if any.
  [[nodiscard]] std::optional<double> median_ms(const std::string& key) const;
};

// $XDG_DATA_HOME/tandem/history/<machine> (or ~/.local/share/...): one file per device.
std::filesystem::path history_dir();
// <history_dir()>/<device name with unsafe characters replaced>.json
std::filesystem::path history_path(const std::string& device);
// The history at @p path; an absent file is an empty history for @p device. A malformed
// file is an Io error naming it.
DeviceHistory load_history(const std::filesystem::path& path, const std::string& device);
// Writes atomically (io/atomic_file.hpp).
void save_history(const std::filesystem::path& path, const DeviceHistory& history);

// "matmul(64, 48)(48, 80)(64, 80)": the op and its tensors' shapes, the history's key.
std::string op_key(const graph::Task& task);

struct DeviceCost {
  std::string spec;     // as in Device::spec
  bool is_cpu = false;
  DeviceHistory history;
  std::optional<FpgaModel> model;  // set: predictions come from it (modeled)
};

struct Prediction {
  enum class Source { Modeled, Measured, Roofline, Guess };
  double ms = 0;
  Source source = Source::Guess;
  [[nodiscard]] bool modeled() const noexcept { return source == Source::Modeled; }
};
std::string_view source_name(Prediction::Source source) noexcept;

class CostModel {
 public:
  // Device i of the list describes device i of the scheduler's Device list; index 0 is the CPU.
  explicit CostModel(std::vector<DeviceCost> devices);

  [[nodiscard]] std::size_t size() const noexcept { return devices_.size(); }
  [[nodiscard]] const DeviceCost& device(int i) const { return devices_.at(static_cast<std::size_t>(i)); }
  [[nodiscard]] DeviceCost& device(int i) { return devices_.at(static_cast<std::size_t>(i)); }

  // Whether device @p d can run @p task at all: host work only on the CPU.
  [[nodiscard]] bool supports(const graph::Task& task, int d) const;
  [[nodiscard]] Prediction predict(const graph::Task& task, int d) const;
  // True when neither a model nor a measurement covers the task on @p d: measure it first.
  [[nodiscard]] bool needs_measurement(const graph::Task& task, int d) const;
  void record(const graph::Task& task, int d, double ms);
  // Moving @p bytes from device @p from to device @p to (through the host between two cards).
  [[nodiscard]] double transfer_ms(int from, int to, double bytes) const;
  // Paid once before the device's first task (a bitstream load); 0 for the CPU.
  [[nodiscard]] double startup_ms(int d) const;

 private:
  std::vector<DeviceCost> devices_;
};

// Runs @p task's own closure on @p kernels: one warm-up and @p repeats timed calls, and
// returns the median ms. What the task writes is saved before and restored after, so the
// graph's tensors are left as they were; the inputs must hold valid data (call it when the
// task is ready, as StarPU calibrates during real runs).
double measure(const graph::Task& task, OpKernels& kernels, int repeats = 3);

struct Peaks {
  double gflops = 0, gbps = 0;
};
// A 512³ matmul and a 4M-element residual add on @p kernels.
Peaks measure_peaks(OpKernels& kernels);
// Round trips of a residual add over a few buffer sizes on a device: its latency is the
// smallest size's time and its bandwidth the bytes moved over the rest. On a card this is
// PCIe plus launch; on PoCL (zero-copy) it is host memory plus launch.
TransferCurve measure_transfer(OpKernels& kernels);

}  // namespace tandem::sched
