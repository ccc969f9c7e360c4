#pragma once
/// @file device.hpp
/// The devices this build of Tandem can run ops on, named by the specs that
/// SchedulerOptions::devices and EvalOptions::device take.

#include <string>
#include <vector>

#include "tandem/export.hpp"

namespace tandem {
inline namespace v1 {

/// One device, or a backend that cannot be used here (kind "unavailable").
struct DeviceDescription {
  /// What to pass as a device spec: "cpu", "opencl:0", "xrt:0", ...; for an unavailable
  /// backend its family name ("opencl", "xrt"), which cannot be opened.
  std::string spec;
  /// "cpu", "fpga" (an FPGA card, through OpenCL or XRT), "emulation" (an OpenCL CPU device such as PoCL that
  /// runs the FPGA kernels), "other" (any other OpenCL device) or "unavailable".
  std::string kind;
  /// The device's own name, e.g. the CPU model or the OpenCL device name.
  std::string name;
  /// One human-readable line: cores and SIMD width, OpenCL platform, driver and memory, or
  /// why a backend is unavailable.
  std::string detail;
};

/// The CPU first, then every OpenCL device in `opencl:N` order, then every XRT card in `xrt:N`
/// order. A backend this build lacks, or XRT without a card, adds one "unavailable" entry whose
/// detail says why. Throws tandem::Error (Device) when an OpenCL platform fails to answer.
[[nodiscard]] TANDEM_API std::vector<DeviceDescription> list_devices();

}  // namespace v1
}  // namespace tandem
