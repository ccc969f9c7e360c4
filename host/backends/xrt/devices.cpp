#include "backends/xrt/devices.hpp"

#include <charconv>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>

#include "backends/xrt/xrt_api.hpp"
#include "tandem/error.hpp"

#ifndef TANDEM_XRT_VERSION
#define TANDEM_XRT_VERSION "(unknown version)"
#endif

namespace tandem::xrt {
namespace {

std::string first_line(std::string_view text) { return std::string(text.substr(0, text.find('\n'))); }

// The kernel drivers of an Alveo card: xocl (user function) and xclmgmt (management function).
bool driver_loaded() {
  std::error_code ec;
  return std::filesystem::exists("/sys/bus/pci/drivers/xocl", ec) ||
         std::filesystem::exists("/sys/bus/pci/drivers/xclmgmt", ec);
}

// Why XRT sees no card, from what can be checked without one. @p xrt_error is XRT's own
// complaint, if enumerating threw (e.g. "XILINX_XRT not set", a missing libxrt_core).
std::string no_device_note(std::string_view xrt_error) {
  std::string causes;
  auto add = [&causes](const std::string& cause) { causes += (causes.empty() ? "" : "; ") + cause; };
  const bool env_set = std::getenv("XILINX_XRT") != nullptr;
  if (!env_set) add("XILINX_XRT is not set");
  if (!xrt_error.empty() && (env_set || xrt_error.find("XILINX_XRT") == std::string_view::npos))
    add("XRT: " + first_line(xrt_error));
  if (!driver_loaded())
    add("no xocl/xclmgmt driver loaded");
  else if (xrt_error.empty())
    add("the xocl driver is loaded but XRT reports no device");
  return "XRT " TANDEM_XRT_VERSION " found but no Xilinx card is present (" + causes + ")";
}

DeviceInfo describe(unsigned int index) {
  DeviceInfo d;
  d.index = static_cast<int>(index);
  const ::xrt::device device(index);
  d.shell = device.get_info<::xrt::info::device::name>();
  d.bdf = device.get_info<::xrt::info::device::bdf>();
  d.name = card_name(d.shell);
  return d;
}

}  // namespace

std::string card_name(std::string_view vbnv) {
  constexpr std::string_view prefix = "xilinx_";
  if (!vbnv.starts_with(prefix)) return std::string(vbnv);
  const std::string_view rest = vbnv.substr(prefix.size());
  const std::string_view card = rest.substr(0, rest.find('_'));
  return card.empty() ? std::string(vbnv) : std::string(card);
}

Discovery discover() {
  Discovery found;
  unsigned int count = 0;
  try {
    count = ::xrt::system::enumerate_devices();
  } catch (const std::exception& e) {
    found.note = no_device_note(e.what());
    return found;
  }
  for (unsigned int i = 0; i < count; ++i) {
    try {
      found.devices.push_back(describe(i));
    } catch (const std::exception& e) {
      // A card that cannot be opened (e.g. in reset) still holds its number.
      found.devices.push_back({static_cast<int>(i), "unavailable: " + first_line(e.what()), "?", ""});
    }
  }
  if (found.devices.empty()) found.note = no_device_note({});
  return found;
}

int parse_device_spec(std::string_view spec) {
  if (spec == "xrt") return 0;
  constexpr std::string_view prefix = "xrt:";
  int n = -1;
  if (spec.starts_with(prefix)) {
    const std::string_view digits = spec.substr(prefix.size());
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) n = -1;
  }
  if (n < 0) throw Error("device '" + std::string(spec) + "': expected 'xrt' or 'xrt:N' with N >= 0");
  return n;
}

DeviceInfo find_device(std::string_view spec) {
  const int n = parse_device_spec(spec);
  Discovery found = discover();
  if (found.devices.empty()) throw Error(std::string(spec) + ": " + found.note, ErrorCategory::Device);
  if (n >= static_cast<int>(found.devices.size()))
    throw Error(std::string(spec) + ": only " + std::to_string(found.devices.size()) +
                    " XRT device(s), numbered from 0",
                ErrorCategory::Device);
  return found.devices[static_cast<std::size_t>(n)];
}

}  // namespace tandem::xrt
