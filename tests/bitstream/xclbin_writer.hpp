#pragma once
// A test-only xclbin writer: small but valid axlf files built byte by byte at the offsets that
// XRT's xrt/xclbin.h documents (the `layout` constants below, checked against that header by
// test_xclbin.cpp when XRT is built in). It shares no code with the reader under test.

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tandem::test {

namespace layout {
// struct axlf: magic[8], signature length, reserved[28], key block[256], unique id, then the
// 152-byte axlf_header, then the section headers.
constexpr std::size_t kHeader = 304;
constexpr std::size_t kLength = kHeader + 0;         // axlf_header.m_length
constexpr std::size_t kVbnv = kHeader + 48;          // m_platformVBNV[64]
constexpr std::size_t kUuid = kHeader + 112;         // uuid[16]
constexpr std::size_t kNumSections = kHeader + 144;  // m_numSections
constexpr std::size_t kSectionTable = 456;           // sizeof(axlf) - sizeof(axlf_section_header)
constexpr std::size_t kSectionHeader = 40;           // axlf_section_header: kind, name[16], offset, size
constexpr std::size_t kSectionOffset = 24;
constexpr std::size_t kSectionSize = 32;
}  // namespace layout

// axlf_section_kind values used here.
enum : std::uint32_t { kEmbeddedMetadata = 2, kMemTopology = 6, kConnectivity = 7, kIpLayout = 8, kClockFreqTopology = 11 };

struct SpecArg {
  std::string name;
  int id = 0;
  std::string type;
  int address_qualifier = 1;  // 0 scalar, 1 global
  unsigned offset = 0x10, size = 8;
};
struct SpecKernel {
  std::string name;
  std::vector<SpecArg> args;
};
struct SpecCu {
  std::string kernel, instance;
  std::uint64_t base_address = 0;
  std::uint32_t ip_type = 1;  // IP_KERNEL; others are not compute units
};
struct SpecMem {
  std::uint8_t type = 6;  // MEM_HBM
  bool used = true;
  std::uint64_t size_kb = 0, base_address = 0;
  std::string tag;
};
struct SpecConnection {
  int arg = 0, ip = 0, mem = 0;  // argument index, IP_LAYOUT index, MEM_TOPOLOGY index
};
struct SpecClock {
  std::string name;
  std::uint16_t mhz = 0;
  std::uint8_t type = 0;  // 1 data, 2 kernel, 3 system
};

struct XclbinSpec {
  std::string vbnv;
  std::array<std::uint8_t, 16> uuid{};
  std::vector<SpecKernel> kernels;  // written to EMBEDDED_METADATA
  std::vector<SpecCu> cus;          // IP_LAYOUT, in this order
  std::vector<SpecMem> mems;        // MEM_TOPOLOGY
  std::vector<SpecConnection> connections;
  std::vector<SpecClock> clocks;
};

// The file's bytes: sections MEM_TOPOLOGY, IP_LAYOUT, CONNECTIVITY, CLOCK_FREQ_TOPOLOGY,
// EMBEDDED_METADATA, each 8-byte aligned, in that order (section i is the i-th header).
std::vector<std::byte> write_xclbin(const XclbinSpec& spec);
void write_file(const std::filesystem::path& path, const std::vector<std::byte>& bytes);

// gemm (2 CUs, HBM), residual_add (1 CU, DDR), gelu_tanh (1 CU, one argument on two HBM
// banks), an unused DDR bank, a non-kernel IP, two clocks.
XclbinSpec sample_spec();
// A smaller one: one kernel, one CU, DDR only, one clock.
XclbinSpec small_spec();

// Little-endian field access for corrupting written files.
std::uint64_t get_u64(const std::vector<std::byte>& b, std::size_t at);
void put_u64(std::vector<std::byte>& b, std::size_t at, std::uint64_t v);
void put_u32(std::vector<std::byte>& b, std::size_t at, std::uint32_t v);

}  // namespace tandem::test
