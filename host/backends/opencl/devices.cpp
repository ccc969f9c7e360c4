#include "backends/opencl/devices.hpp"

#include <charconv>
#include <string>

#include "backends/opencl/cl_status.hpp"
#include "tandem/error.hpp"

namespace tandem::opencl {
namespace {

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Xilinx's and Intel's FPGA runtimes report their cards as accelerators; emulation of the
// FPGA kernels happens on CPU devices (PoCL).
bool is_fpga_platform(const DeviceInfo& d, cl_device_type type) {
  const bool fpga_vendor = contains(d.platform, "Xilinx") || contains(d.platform_vendor, "Xilinx") ||
                           contains(d.platform, "FPGA") || contains(d.platform_vendor, "Altera");
  return fpga_vendor || (type & CL_DEVICE_TYPE_ACCELERATOR) != 0;
}

template <cl_int Param, class T> T device_info(const cl::Device& d, std::string_view what) {
  T value{};
  check(d.getInfo(Param, &value), "clGetDeviceInfo", what);
  return value;
}

}  // namespace

std::vector<DeviceInfo> list_devices() {
  std::vector<cl::Platform> platforms;
  const cl_int status = cl::Platform::get(&platforms);
  // The ICD loader reports "no platform" as an error; for discovery it is just an empty list.
  if (status == CL_PLATFORM_NOT_FOUND_KHR || platforms.empty()) return {};
  check(status, "clGetPlatformIDs");

  std::vector<DeviceInfo> out;
  for (const cl::Platform& p : platforms) {
    std::vector<cl::Device> devices;
    const cl_int ds = p.getDevices(CL_DEVICE_TYPE_ALL, &devices);
    if (ds == CL_DEVICE_NOT_FOUND) continue;
    check(ds, "clGetDeviceIDs");
    for (const cl::Device& dev : devices) {
      DeviceInfo d;
      d.index = static_cast<int>(out.size());
      check(p.getInfo(CL_PLATFORM_NAME, &d.platform), "clGetPlatformInfo", "CL_PLATFORM_NAME");
      check(p.getInfo(CL_PLATFORM_VENDOR, &d.platform_vendor), "clGetPlatformInfo", "CL_PLATFORM_VENDOR");
      d.name = device_info<CL_DEVICE_NAME, std::string>(dev, "CL_DEVICE_NAME");
      d.vendor = device_info<CL_DEVICE_VENDOR, std::string>(dev, "CL_DEVICE_VENDOR");
      d.driver_version = device_info<CL_DRIVER_VERSION, std::string>(dev, "CL_DRIVER_VERSION");
      d.opencl_version = device_info<CL_DEVICE_VERSION, std::string>(dev, "CL_DEVICE_VERSION");
      d.global_memory = device_info<CL_DEVICE_GLOBAL_MEM_SIZE, cl_ulong>(dev, "CL_DEVICE_GLOBAL_MEM_SIZE");
      d.compute_units = device_info<CL_DEVICE_MAX_COMPUTE_UNITS, cl_uint>(dev, "CL_DEVICE_MAX_COMPUTE_UNITS");
      d.max_work_group_size = static_cast<std::uint32_t>(
          device_info<CL_DEVICE_MAX_WORK_GROUP_SIZE, std::size_t>(dev, "CL_DEVICE_MAX_WORK_GROUP_SIZE"));
      const auto type = device_info<CL_DEVICE_TYPE, cl_device_type>(dev, "CL_DEVICE_TYPE");
      d.fpga = is_fpga_platform(d, type);
      d.emulation = !d.fpga && (type & CL_DEVICE_TYPE_CPU) != 0;
      d.device = dev;
      out.push_back(std::move(d));
    }
  }
  return out;
}

int parse_device_spec(std::string_view spec) {
  if (spec == "opencl") return 0;
  constexpr std::string_view prefix = "opencl:";
  int n = -1;
  if (spec.starts_with(prefix)) {
    const std::string_view digits = spec.substr(prefix.size());
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) n = -1;
  }
  if (n < 0)
    throw Error("device '" + std::string(spec) + "': expected 'opencl' or 'opencl:N' with N >= 0");
  return n;
}

DeviceInfo find_device(std::string_view spec) {
  const int n = parse_device_spec(spec);
  std::vector<DeviceInfo> devices = list_devices();
  if (n >= static_cast<int>(devices.size()))
    throw Error("device '" + std::string(spec) + "': " +
                    (devices.empty() ? std::string("no OpenCL device found (is an ICD such as pocl-opencl-icd installed?)")
                                     : "only " + std::to_string(devices.size()) + " OpenCL device(s), numbered from 0"),
                ErrorCategory::Device);
  return devices[static_cast<std::size_t>(n)];
}

}  // namespace tandem::opencl
