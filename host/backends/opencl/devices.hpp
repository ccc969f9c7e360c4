#pragma once
// OpenCL platform and device discovery. Devices are numbered across all platforms in the
// order the ICD loader reports them; `opencl:N` names the N-th (`tandem devices` order).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "backends/opencl/cl.hpp"

namespace tandem::opencl {

struct DeviceInfo {
  int index = 0;  // N in opencl:N
  std::string platform, platform_vendor, name, vendor, driver_version, opencl_version;
  std::uint64_t global_memory = 0;  // bytes
  std::uint32_t compute_units = 0;
  std::uint32_t max_work_group_size = 0;
  bool fpga = false;       // an FPGA platform (Xilinx, Intel FPGA): programs come from bitstreams
  bool emulation = false;  // a CPU device (PoCL) on which the FPGA kernels are emulated
  cl::Device device;
};

// Every OpenCL device on every platform; empty when there is no platform (no ICD installed).
std::vector<DeviceInfo> list_devices();

// The index N of a device spec "opencl" (= 0) or "opencl:N"; anything else is an error
// naming the spec.
int parse_device_spec(std::string_view spec);

// The device a spec names, or an error listing how many devices exist.
DeviceInfo find_device(std::string_view spec);

}  // namespace tandem::opencl
