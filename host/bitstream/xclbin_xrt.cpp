// read_xclbin_with_xrt: the xclbin's facts as XRT's own xrt::xclbin reports them.
#include <algorithm>
#include <cstring>
#include <exception>

#include "bitstream/xclbin.hpp"
#include "tandem/error.hpp"

// XRT 2.13's headers are C++17 and shadow their own members' names (`handle` in pimpl.h and
// xrt_xclbin.h) under -Wshadow: their warnings, not ours, so silenced for these includes only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#include <experimental/xrt_xclbin.h>
#pragma GCC diagnostic pop

namespace tandem::bitstream {
namespace {

XclbinArg arg_of(const xrt::xclbin::arg& a) {
  // xrt::xclbin exposes no address qualifier: left empty.
  return {a.get_name(), static_cast<int>(a.get_index()), a.get_host_type(), {}};
}

XclbinComputeUnit compute_unit_of(const xrt::xclbin::ip& ip) {
  XclbinComputeUnit cu{ip.get_name(), ip.get_base_address(), {}};
  for (const xrt::xclbin::arg& a : ip.get_args()) {
    std::vector<xrt::xclbin::mem> mems = a.get_mems();
    std::sort(mems.begin(), mems.end(), [](const auto& x, const auto& y) { return x.get_index() < y.get_index(); });
    for (const xrt::xclbin::mem& m : mems) cu.banks[static_cast<int>(a.get_index())].push_back(m.get_tag());
  }
  return cu;
}

std::vector<XclbinClock> clocks_of(const xrt::xclbin& x) {
  std::vector<XclbinClock> clocks;
  const clock_freq_topology* topology = nullptr;
  try {
    topology = x.get_axlf_section<const clock_freq_topology*>(CLOCK_FREQ_TOPOLOGY);
  } catch (const std::exception&) {
    return clocks;  // XRT throws when the section is absent
  }
  if (topology == nullptr) return clocks;
  static const char* const types[] = {"unused", "data", "kernel", "system"};
  for (int i = 0; i < topology->m_count; ++i) {
    const clock_freq& c = topology->m_clock_freq[i];
    const std::string type = c.m_type < 4 ? types[c.m_type] : "type " + std::to_string(c.m_type);
    clocks.push_back({std::string(c.m_name, strnlen(c.m_name, sizeof c.m_name)), c.m_freq_Mhz, type});
  }
  return clocks;
}

XclbinInfo info_of(const xrt::xclbin& x) {
  XclbinInfo info;
  info.vbnv = x.get_xsa_name();
  info.uuid = x.get_uuid().to_string();
  for (const xrt::xclbin::kernel& k : x.get_kernels()) {
    XclbinKernel kernel{k.get_name(), {}, {}};
    for (const xrt::xclbin::arg& a : k.get_args()) kernel.args.push_back(arg_of(a));
    std::sort(kernel.args.begin(), kernel.args.end(), [](const XclbinArg& a, const XclbinArg& b) { return a.index < b.index; });
    for (const xrt::xclbin::ip& ip : k.get_cus()) kernel.compute_units.push_back(compute_unit_of(ip));
    info.kernels.push_back(std::move(kernel));
  }
  std::sort(info.kernels.begin(), info.kernels.end(), [](const XclbinKernel& a, const XclbinKernel& b) { return a.name < b.name; });
  for (const xrt::xclbin::mem& m : x.get_mems())
    info.memories.push_back({m.get_tag(), memory_type_name(static_cast<std::uint8_t>(m.get_type())), m.get_used(),
                             m.get_size_kb(), m.get_base_address()});
  info.clocks = clocks_of(x);
  return info;
}

}  // namespace

XclbinInfo read_xclbin_with_xrt(const std::filesystem::path& path) {
  (void)read_xclbin(path);  // XRT reads offsets unchecked: only a file that passes ours reaches it
  try {
    return info_of(xrt::xclbin(path.string()));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    throw Error(path.string() + ": xclbin: XRT: " + what, ErrorCategory::Io);
  }
}

}  // namespace tandem::bitstream
