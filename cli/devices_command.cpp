// `tandem devices`: the CPU, every OpenCL device and every XRT card, as a table or JSON.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#if TANDEM_HAVE_OPENCL
#include "backends/opencl/devices.hpp"
#endif
#if TANDEM_HAVE_XRT
#include "backends/xrt/devices.hpp"
#endif

namespace tandem::cli {
namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// The widest vector unit the CPU backend can use, in bits.
int simd_bits() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return 512;
  if (__builtin_cpu_supports("avx2")) return 256;
  return 128;
#else
  return 128;
#endif
}

// "xrt": the cards XRT sees; "xrt_note": why there is none, when there is none.
void add_xrt(nlohmann::json& j) {
  j["xrt"] = nlohmann::json::array();
#if TANDEM_HAVE_XRT
  const xrt::Discovery found = xrt::discover();
  for (const xrt::DeviceInfo& d : found.devices)
    j["xrt"].push_back(
        {{"spec", "xrt:" + std::to_string(d.index)}, {"shell", d.shell}, {"name", d.name}, {"bdf", d.bdf}});
  if (!found.note.empty()) j["xrt_note"] = found.note;
#else
  j["xrt_note"] = "built without the XRT backend (install libxrt-dev and rebuild)";
#endif
}

nlohmann::json list_json() {
  nlohmann::json j;
  j["cpu"] = {{"spec", "cpu"},
              {"name", cpu_model()},
              {"cores", std::thread::hardware_concurrency()},
              {"simd_bits", simd_bits()}};
  j["opencl"] = nlohmann::json::array();
#if TANDEM_HAVE_OPENCL
  for (const opencl::DeviceInfo& d : opencl::list_devices())
    j["opencl"].push_back({{"spec", "opencl:" + std::to_string(d.index)},
                           {"platform", d.platform},
                           {"name", d.name},
                           {"vendor", d.vendor},
                           {"driver", d.driver_version},
                           {"opencl_version", d.opencl_version},
                           {"memory_bytes", d.global_memory},
                           {"compute_units", d.compute_units},
                           {"kind", d.fpga ? "fpga" : d.emulation ? "emulation" : "other"}});
#else
  j["opencl_note"] = "built without the OpenCL backend";
#endif
  add_xrt(j);
  return j;
}

void print_table(const nlohmann::json& j) {
  const auto& cpu = j["cpu"];
  std::printf("%-10s %-10s %s, %d cores, %d-bit SIMD\n", "cpu", "cpu", cpu["name"].get<std::string>().c_str(),
              cpu["cores"].get<int>(), cpu["simd_bits"].get<int>());
  if (j.contains("opencl_note")) std::printf("(%s)\n", j["opencl_note"].get<std::string>().c_str());
  if (j["opencl"].empty()) std::printf("no OpenCL device (install an ICD such as pocl-opencl-icd)\n");
  for (const auto& d : j["opencl"]) {
    std::printf("%-10s %-10s %s — %s, driver %s, %.1f GiB, %d compute units\n", d["spec"].get<std::string>().c_str(),
                d["kind"].get<std::string>().c_str(), d["name"].get<std::string>().c_str(),
                d["platform"].get<std::string>().c_str(), d["driver"].get<std::string>().c_str(),
                double(d["memory_bytes"].get<std::uint64_t>()) / double(1ull << 30), d["compute_units"].get<int>());
  }
  if (j.contains("xrt_note")) std::printf("xrt: %s\n", j["xrt_note"].get<std::string>().c_str());
  for (const auto& d : j["xrt"]) {
    const std::string bdf = d["bdf"].get<std::string>();
    const std::string where = bdf.empty() ? "" : ", PCIe " + bdf;
    std::printf("%-10s %-10s %s — shell %s%s\n", d["spec"].get<std::string>().c_str(), "fpga",
                d["name"].get<std::string>().c_str(), d["shell"].get<std::string>().c_str(), where.c_str());
  }
}

}  // namespace

void add_devices_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("devices", "List the CPU, the OpenCL devices (emulation and FPGA) and the XRT cards");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print one JSON object");
  cmd->callback([json] {
    const nlohmann::json j = list_json();
    if (*json)
      std::cout << j.dump(2) << "\n";
    else
      print_table(j);
  });
}

}  // namespace tandem::cli
