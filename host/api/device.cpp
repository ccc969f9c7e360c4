#include "tandem/device.hpp"

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#if TANDEM_HAVE_OPENCL
#include "backends/opencl/devices.hpp"
#endif
#if TANDEM_HAVE_XRT
#include "backends/xrt/devices.hpp"
#endif

namespace tandem {
inline namespace v1 {
namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// The widest vector unit the CPU backend can use, in bits.
int simd_bits() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return 512;
  if (__builtin_cpu_supports("avx2")) return 256;
#endif
  return 128;
}

DeviceDescription cpu_device() {
  return {"cpu", "cpu", cpu_model(),
          std::to_string(std::thread::hardware_concurrency()) + " cores, " + std::to_string(simd_bits()) + "-bit SIMD"};
}

#if TANDEM_HAVE_OPENCL
DeviceDescription opencl_device(const opencl::DeviceInfo& d) {
  char memory[32];
  std::snprintf(memory, sizeof memory, "%.1f GiB", static_cast<double>(d.global_memory) / double(1ull << 30));
  return {"opencl:" + std::to_string(d.index), d.fpga ? "fpga" : d.emulation ? "emulation" : "other", d.name,
          d.platform + ", driver " + d.driver_version + ", " + memory + ", " + std::to_string(d.compute_units) +
              " compute units"};
}
#endif

// The cards XRT sees, or one "unavailable" entry saying why there is none.
void add_xrt_devices(std::vector<DeviceDescription>& out) {
#if TANDEM_HAVE_XRT
  const xrt::Discovery found = xrt::discover();
  for (const xrt::DeviceInfo& d : found.devices)
    out.push_back({"xrt:" + std::to_string(d.index), "fpga", d.name,
                   "XRT, shell " + d.shell + (d.bdf.empty() ? "" : ", PCIe " + d.bdf)});
  if (!found.note.empty()) out.push_back({"xrt", "unavailable", "XRT", found.note});
#else
  out.push_back({"xrt", "unavailable", "XRT", "built without the XRT backend"});
#endif
}

}  // namespace

std::vector<DeviceDescription> list_devices() {
  std::vector<DeviceDescription> out = {cpu_device()};
#if TANDEM_HAVE_OPENCL
  for (const opencl::DeviceInfo& d : opencl::list_devices()) out.push_back(opencl_device(d));
#else
  out.push_back({"opencl", "unavailable", "OpenCL", "built without the OpenCL backend"});
#endif
  add_xrt_devices(out);
  return out;
}

}  // namespace v1
}  // namespace tandem
