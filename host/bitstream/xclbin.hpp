#pragma once
// What an FPGA binary (.xclbin, Xilinx's "axlf" container) says about itself: its kernels and
// their compute units, each argument's memory banks, the memory topology, the clocks, the
// platform it was built for and its UUID.
//
// parse_xclbin is Tandem's own reader of the layout documented in XRT's xrt/xclbin.h; it needs
// no XRT, so builds without XRT can inspect binaries too, and it checks every offset and count
// against the file before reading (XRT 2.13's xrt::xclbin does not). read_xclbin_with_xrt reads
// the same facts through xrt::xclbin where XRT is built in.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace tandem::bitstream {

struct XclbinArg {
  std::string name;
  int index = 0;                  // the argument's position in the kernel signature
  std::string type;               // as the compiler wrote it, e.g. "float*", "int"
  std::string address_qualifier;  // "scalar", "global", "constant", "local", "stream"
  bool operator==(const XclbinArg&) const = default;
};

struct XclbinComputeUnit {
  std::string name;             // the IP name, "kernel:instance", e.g. "gemm:gemm_1"
  std::uint64_t base_address = 0;
  // Argument index -> memory tags it is connected to ("HBM[3]", "DDR[0]"), in MEM_TOPOLOGY order.
  std::map<int, std::vector<std::string>> banks;
  bool operator==(const XclbinComputeUnit&) const = default;
};

struct XclbinKernel {
  std::string name;
  std::vector<XclbinArg> args;  // ascending index
  std::vector<XclbinComputeUnit> compute_units;
  bool operator==(const XclbinKernel&) const = default;
};

struct XclbinMemory {
  std::string tag;   // "HBM[0]", "DDR[1]", "PLRAM[0]"
  std::string type;  // "DDR4", "HBM", "DRAM", "STREAMING", ... (xclbin.h MEM_TYPE without "MEM_")
  bool used = false;
  std::uint64_t size_kb = 0;
  std::uint64_t base_address = 0;
  bool operator==(const XclbinMemory&) const = default;
};

struct XclbinClock {
  std::string name;
  unsigned mhz = 0;
  std::string type;  // "data", "kernel", "system", "unused"
  bool operator==(const XclbinClock&) const = default;
};

struct XclbinInfo {
  std::string vbnv;  // platform, e.g. "xilinx_u55c_gen3x16_xdma_3_202210_1"
  std::string uuid;  // "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", lower case
  std::vector<XclbinKernel> kernels;  // sorted by name
  std::vector<XclbinMemory> memories;  // MEM_TOPOLOGY order (connectivity indexes it)
  std::vector<XclbinClock> clocks;
  bool operator==(const XclbinInfo&) const = default;
};

// Parses an xclbin held in memory. Truncation, a bad magic, a section outside the file or
// overlapping another, a count larger than its section, an index out of range or malformed
// metadata XML is an Io error "<where>: xclbin: <what is wrong>".
XclbinInfo parse_xclbin(std::span<const std::byte> bytes, const std::string& where);

// Reads and parses @p path (errors name the file).
XclbinInfo read_xclbin(const std::filesystem::path& path);

#ifdef TANDEM_HAVE_XRT_XCLBIN
// The same facts through XRT's xrt::xclbin (clocks from its CLOCK_FREQ_TOPOLOGY section, which
// xrt::xclbin has no accessor for). The file is checked with parse_xclbin first, since XRT
// trusts the offsets it reads; XRT's exceptions become Io errors naming the file.
XclbinInfo read_xclbin_with_xrt(const std::filesystem::path& path);
#endif

// "DDR4", "HBM", ...: the name of an xclbin.h MEM_TYPE value, or "type N" when unknown.
std::string memory_type_name(std::uint8_t type);

}  // namespace tandem::bitstream
