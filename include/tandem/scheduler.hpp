#pragma once
/// @file scheduler.hpp
/// Which devices a fine-tuning run uses and how its work is placed on them.

#include <string>
#include <vector>

namespace tandem {
inline namespace v1 {

/// Devices and placement policy of a training run (see docs/scheduler.md).
struct SchedulerOptions {
  /// Device specs as list_devices() names them ("cpu", "opencl", "opencl:N", "xrt:N"). The CPU is
  /// always used, added when missing.
  std::vector<std::string> devices{"cpu"};
  /// "cpu" (everything on the CPU), "fpga" (every op the FPGA kernels cover on the first
  /// OpenCL device), "heft" (earliest finish time from measured op costs) or "rules:FILE".
  std::string policy = "heft";
  /// Plan OpenCL devices as this card (e.g. "u280"); empty: as the device measures.
  std::string fpga_model;
  /// Where to write a Chrome trace of every step (open in Perfetto); empty: none.
  std::string trace_path;
  /// CPU threads; 0: every core.
  int cpu_threads = 0;
};

}  // namespace v1
}  // namespace tandem
