// `tandem xclbin info FILE [--json] [--reader own|xrt]`: what an FPGA binary holds.
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "bitstream/xclbin.hpp"
#include "commands.hpp"
#include "tandem/error.hpp"

namespace tandem::cli {
namespace {

struct XclbinOptions {
  std::string file;
  bool json = false;
#ifdef TANDEM_HAVE_XRT_XCLBIN
  std::string reader = "xrt";
#else
  std::string reader = "own";
#endif
};

bitstream::XclbinInfo read(const XclbinOptions& o) {
  if (o.reader == "own") return bitstream::read_xclbin(o.file);
#ifdef TANDEM_HAVE_XRT_XCLBIN
  return bitstream::read_xclbin_with_xrt(o.file);
#else
  throw Error("xclbin info: --reader xrt: this build has no XRT (install libxrt-dev and rebuild)");
#endif
}

std::string hex(std::uint64_t v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

// "gemm:gemm_1" -> "gemm_1"
std::string instance(const std::string& cu) { return cu.substr(cu.find(':') + 1); }

std::string arg_name(const bitstream::XclbinKernel& k, int index) {
  for (const auto& a : k.args)
    if (a.index == index) return a.name;
  return std::to_string(index);
}

nlohmann::json to_json(const bitstream::XclbinInfo& x, const XclbinOptions& o) {
  nlohmann::json j = {{"file", o.file}, {"reader", o.reader}, {"platform", x.vbnv}, {"uuid", x.uuid}};
  j["kernels"] = nlohmann::json::array();
  for (const auto& k : x.kernels) {
    nlohmann::json kj = {{"name", k.name}, {"args", nlohmann::json::array()}, {"compute_units", nlohmann::json::array()}};
    for (const auto& a : k.args)
      kj["args"].push_back({{"index", a.index}, {"name", a.name}, {"type", a.type}, {"address_qualifier", a.address_qualifier}});
    for (const auto& cu : k.compute_units) {
      nlohmann::json banks = nlohmann::json::object();
      for (const auto& [index, tags] : cu.banks) banks[arg_name(k, index)] = tags;
      kj["compute_units"].push_back({{"name", cu.name}, {"base_address", cu.base_address}, {"banks", banks}});
    }
    j["kernels"].push_back(kj);
  }
  j["memories"] = nlohmann::json::array();
  for (const auto& m : x.memories)
    j["memories"].push_back({{"tag", m.tag}, {"type", m.type}, {"used", m.used}, {"size_kb", m.size_kb}, {"base_address", m.base_address}});
  j["clocks"] = nlohmann::json::array();
  for (const auto& c : x.clocks) j["clocks"].push_back({{"name", c.name}, {"mhz", c.mhz}, {"type", c.type}});
  return j;
}

void print_kernel(const bitstream::XclbinKernel& k, std::ostream& out) {
  out << "  " << k.name << " (" << k.compute_units.size() << " compute unit" << (k.compute_units.size() == 1 ? "" : "s")
      << ":";
  for (const auto& cu : k.compute_units) out << " " << instance(cu.name) << " @" << hex(cu.base_address);
  out << ")\n";
  for (const auto& a : k.args) {
    std::string qualifier = a.address_qualifier.empty() ? "" : a.address_qualifier + " ";
    out << "    " << a.index << " " << a.name << " : " << qualifier << a.type;
    for (const auto& cu : k.compute_units) {
      const auto it = cu.banks.find(a.index);
      if (it == cu.banks.end()) continue;
      out << "  " << instance(cu.name) << "=";
      for (std::size_t i = 0; i < it->second.size(); ++i) out << (i ? "," : "") << it->second[i];
    }
    out << "\n";
  }
}

void print_text(const bitstream::XclbinInfo& x, const XclbinOptions& o, std::ostream& out) {
  out << o.file << " (read by " << (o.reader == "own" ? "Tandem's reader" : "XRT's xrt::xclbin") << ")\n";
  out << "platform  " << x.vbnv << "\nuuid      " << x.uuid << "\n";
  out << "kernels (" << x.kernels.size() << "): argument index, name, type, then each compute unit's bank\n";
  for (const auto& k : x.kernels) print_kernel(k, out);
  out << "memory (" << x.memories.size() << ")\n";
  for (const auto& m : x.memories)
    out << "  " << m.tag << "  " << m.type << "  " << m.size_kb / 1024 << " MB  " << (m.used ? "used" : "unused") << "  base "
        << hex(m.base_address) << "\n";
  out << "clocks (" << x.clocks.size() << ")\n";
  for (const auto& c : x.clocks) out << "  " << c.name << "  " << c.mhz << " MHz  " << c.type << "\n";
}

void run_info(const XclbinOptions& o) {
  const bitstream::XclbinInfo x = read(o);
  if (o.json) std::cout << to_json(x, o).dump(2) << "\n";
  else print_text(x, o, std::cout);
}

}  // namespace

void add_xclbin_command(CLI::App& app) {
  CLI::App* xclbin = app.add_subcommand("xclbin", "Inspect FPGA binaries (.xclbin)");
  xclbin->require_subcommand(1);
  auto o = std::make_shared<XclbinOptions>();
  CLI::App* info = xclbin->add_subcommand(
      "info", "Kernels, compute units, argument banks, memory topology, clocks, platform and UUID of an .xclbin");
  info->add_option("file", o->file, "The .xclbin file")->required();
  info->add_flag("--json", o->json, "Print JSON");
  info->add_option("--reader", o->reader, "own: Tandem's axlf reader; xrt: XRT's xrt::xclbin (after the same checks)")
      ->check(CLI::IsMember({"own", "xrt"}))
      ->capture_default_str();
  info->callback([o] { run_info(*o); });
}

}  // namespace tandem::cli
