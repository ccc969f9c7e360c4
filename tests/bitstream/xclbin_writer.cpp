#include "xclbin_writer.hpp"

#include <fstream>
#include <stdexcept>

namespace tandem::test {
namespace {

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string hex(std::uint64_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), digits[v & 15]);
    v >>= 4;
  } while (v != 0);
  return "0x" + s;
}

// Vitis-style metadata: project/platform/device/core/kernel with ports, args and instances.
std::string metadata_xml(const XclbinSpec& spec) {
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x += "<project name=\"tandem\">\n  <platform vendor=\"xilinx\" boardid=\"test\" name=\"" + escape(spec.vbnv) +
       "\" featureRomTime=\"0\">\n    <version major=\"1\" minor=\"0\"/>\n    <!-- written by tests/bitstream -->\n"
       "    <device name=\"fpga0\" fpgaDevice=\"test\" addrWidth=\"0\">\n"
       "      <core name=\"OCL_REGION_0\" target=\"bitstream\" type=\"clc_region\" clockFreq=\"0MHz\" numComputeUnits=\"60\">\n"
       "        <kernelClocks><clock port=\"KERNEL_CLK\" frequency=\"500.0MHz\"/><clock port=\"DATA_CLK\" frequency=\"300.0MHz\"/></kernelClocks>\n";
  for (const SpecKernel& k : spec.kernels) {
    x += "        <kernel name=\"" + escape(k.name) +
         "\" language=\"clc\" vlnv=\"xilinx.com:hls:" + escape(k.name) + ":1.0\" attributes=\"\" preferredWorkGroupSizeMultiple=\"1\" "
         "workGroupSize=\"1\" debug=\"false\" interrupt=\"true\" hwControlProtocol=\"ap_ctrl_hs\">\n"
         "          <port name=\"S_AXI_CONTROL\" mode=\"slave\" range=\"0x1000\" dataWidth=\"32\" portType=\"addressable\" base=\"0x0\"/>\n"
         "          <port name=\"M_AXI_GMEM\" mode=\"master\" range=\"0xFFFFFFFFFFFFFFFF\" dataWidth=\"512\" portType=\"addressable\" base=\"0x0\"/>\n";
    for (const SpecArg& a : k.args)
      x += "          <arg name=\"" + escape(a.name) + "\" addressQualifier=\"" + std::to_string(a.address_qualifier) +
           "\" id=\"" + std::to_string(a.id) + "\" port=\"" + (a.address_qualifier == 1 ? "M_AXI_GMEM" : "S_AXI_CONTROL") +
           "\" size=\"" + hex(a.size) + "\" offset=\"" + hex(a.offset) + "\" hostOffset=\"0x0\" hostSize=\"" + hex(a.size) +
           "\" type=\"" + escape(a.type) + "\"/>\n";
    x += "          <compileWorkGroupSize x=\"1\" y=\"1\" z=\"1\"/>\n          <maxWorkGroupSize x=\"1\" y=\"1\" z=\"1\"/>\n";
    for (const SpecCu& cu : spec.cus)
      if (cu.kernel == k.name)
        x += "          <instance name=\"" + escape(cu.instance) + "\">\n            <addrRemap base=\"" + hex(cu.base_address) +
             "\" range=\"0x10000\" port=\"S_AXI_CONTROL\"/>\n          </instance>\n";
    x += "        </kernel>\n";
  }
  x += "      </core>\n    </device>\n  </platform>\n</project>\n";
  return x;
}

class Bytes {
 public:
  std::vector<std::byte> data;
  void u8(std::uint8_t v) { data.push_back(std::byte{v}); }
  void u16(std::uint16_t v) { uint(v, 2); }
  void u32(std::uint32_t v) { uint(v, 4); }
  void u64(std::uint64_t v) { uint(v, 8); }
  void fill(std::size_t n, std::uint8_t v = 0) { data.insert(data.end(), n, std::byte{v}); }
  // @p s NUL-padded to @p n bytes (cut to n - 1 characters so a NUL always ends it).
  void text(const std::string& s, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) u8(i < s.size() && i + 1 < n ? static_cast<std::uint8_t>(s[i]) : 0);
  }
  void align8() {
    while (data.size() % 8 != 0) u8(0);
  }

 private:
  void uint(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
};

Bytes mem_topology(const XclbinSpec& spec) {
  Bytes b;
  b.u32(static_cast<std::uint32_t>(spec.mems.size()));
  b.fill(4);  // m_mem_data is 8-byte aligned
  for (const SpecMem& m : spec.mems) {
    b.u8(m.type);
    b.u8(m.used ? 1 : 0);
    b.fill(6);
    b.u64(m.size_kb);
    b.u64(m.base_address);
    b.text(m.tag, 16);
  }
  return b;
}

Bytes ip_layout(const XclbinSpec& spec) {
  Bytes b;
  b.u32(static_cast<std::uint32_t>(spec.cus.size()));
  b.fill(4);
  for (std::size_t i = 0; i < spec.cus.size(); ++i) {
    const SpecCu& cu = spec.cus[i];
    b.u32(cu.ip_type);
    b.u32(1u | (std::uint32_t(i) << 1));  // interrupt enabled, interrupt id i, ap_ctrl_hs
    b.u64(cu.base_address);
    b.text(cu.ip_type == 1 ? cu.kernel + ":" + cu.instance : cu.instance, 64);
  }
  return b;
}

Bytes connectivity(const XclbinSpec& spec) {
  Bytes b;
  b.u32(static_cast<std::uint32_t>(spec.connections.size()));
  for (const SpecConnection& c : spec.connections) {
    b.u32(static_cast<std::uint32_t>(c.arg));
    b.u32(static_cast<std::uint32_t>(c.ip));
    b.u32(static_cast<std::uint32_t>(c.mem));
  }
  return b;
}

Bytes clock_topology(const XclbinSpec& spec) {
  Bytes b;
  b.u16(static_cast<std::uint16_t>(spec.clocks.size()));
  for (const SpecClock& c : spec.clocks) {
    b.u16(c.mhz);
    b.u8(c.type);
    b.fill(5);
    b.text(c.name, 128);
  }
  return b;
}

}  // namespace

std::vector<std::byte> write_xclbin(const XclbinSpec& spec) {
  struct Section {
    std::uint32_t kind;
    std::string name;
    std::vector<std::byte> data;
  };
  std::vector<Section> sections = {
      {kMemTopology, "mem_topology", mem_topology(spec).data},
      {kIpLayout, "ip_layout", ip_layout(spec).data},
      {kConnectivity, "connectivity", connectivity(spec).data},
      {kClockFreqTopology, "clock_freq", clock_topology(spec).data},
  };
  const std::string xml = metadata_xml(spec);
  std::vector<std::byte> xml_bytes;
  for (char c : xml) xml_bytes.push_back(static_cast<std::byte>(c));
  sections.push_back({kEmbeddedMetadata, "metadata", xml_bytes});

  Bytes f;
  f.text("xclbin2", 8);
  f.u32(0xFFFFFFFFu);  // m_signature_length -1: unsigned
  f.fill(28, 0xFF);    // reserved
  f.fill(256, 0xFF);   // m_keyBlock
  f.u64(0x7A6E6474);   // m_uniqueId
  // axlf_header
  f.u64(0);  // m_length, patched below
  f.u64(1700000000);
  f.u64(0);
  f.u16(466);  // version 2.13.466, as Debian's XRT
  f.u8(2);
  f.u8(13);
  f.u16(0);  // XCLBIN_FLAT
  f.u16(0);
  f.fill(16);  // rom_uuid
  f.text(spec.vbnv, 64);
  for (std::uint8_t u : spec.uuid) f.u8(u);
  f.fill(16);  // m_debug_bin
  f.u32(static_cast<std::uint32_t>(sections.size()));
  f.fill(4);  // struct padding
  if (f.data.size() != layout::kSectionTable) throw std::logic_error("xclbin writer: header size");
  std::uint64_t offset = layout::kSectionTable + sections.size() * layout::kSectionHeader;
  offset = (offset + 7) / 8 * 8;
  for (const Section& s : sections) {
    f.u32(s.kind);
    f.text(s.name, 16);
    f.fill(4);
    f.u64(offset);
    f.u64(s.data.size());
    offset = (offset + s.data.size() + 7) / 8 * 8;
  }
  f.align8();
  for (const Section& s : sections) {
    f.data.insert(f.data.end(), s.data.begin(), s.data.end());
    f.align8();
  }
  put_u64(f.data, layout::kLength, f.data.size());
  return f.data;
}

void write_file(const std::filesystem::path& path, const std::vector<std::byte>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::uint64_t get_u64(const std::vector<std::byte>& b, std::size_t at) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(b.at(at + std::size_t(i)));
  return v;
}

void put_u64(std::vector<std::byte>& b, std::size_t at, std::uint64_t v) {
  for (std::size_t i = 0; i < 8; ++i) b.at(at + i) = std::byte(static_cast<std::uint8_t>(v >> (8 * i)));
}

void put_u32(std::vector<std::byte>& b, std::size_t at, std::uint32_t v) {
  for (std::size_t i = 0; i < 4; ++i) b.at(at + i) = std::byte(static_cast<std::uint8_t>(v >> (8 * i)));
}

XclbinSpec sample_spec() {
  XclbinSpec s;
  s.vbnv = "xilinx_u280_gen3x16_xdma_1_202211_1";
  s.uuid = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
  s.kernels = {
      {"gemm", {{"a", 0, "float*", 1, 0x10, 8}, {"b", 1, "float*", 1, 0x1c, 8}, {"c", 2, "float*", 1, 0x28, 8},
                {"m", 3, "int", 0, 0x34, 4}, {"alpha", 4, "float", 0, 0x3c, 4}}},
      {"residual_add", {{"a", 0, "float*", 1, 0x10, 8}, {"b", 1, "float*", 1, 0x1c, 8}, {"out", 2, "float*", 1, 0x28, 8},
                        {"n", 3, "int", 0, 0x34, 4}}},
      {"gelu_tanh", {{"x", 0, "float*", 1, 0x10, 8}, {"out", 1, "float*", 1, 0x1c, 8}, {"n", 2, "int", 0, 0x28, 4}}},
  };
  s.cus = {{"gemm", "gemm_1", 0x1800000, 1},          {"gemm", "gemm_2", 0x1810000, 1},
           {"residual_add", "residual_add_1", 0x1820000, 1}, {"", "ddr4_mem00", 0x0, 4},
           {"gelu_tanh", "gelu_tanh_1", 0x1830000, 1}};
  for (int i = 0; i < 8; ++i)
    s.mems.push_back({6, true, 256 * 1024, std::uint64_t(i) * 0x10000000, "HBM[" + std::to_string(i) + "]"});
  s.mems.push_back({1, true, 16 * 1024 * 1024, 0x4000000000, "DDR[0]"});
  s.mems.push_back({1, false, 16 * 1024 * 1024, 0x4400000000, "DDR[1]"});
  s.connections = {{0, 0, 0}, {1, 0, 1}, {2, 0, 2},   // gemm_1 -> HBM[0..2]
                   {0, 1, 3}, {1, 1, 4}, {2, 1, 5},   // gemm_2 -> HBM[3..5]
                   {0, 2, 8}, {1, 2, 8}, {2, 2, 8},   // residual_add_1 -> DDR[0]
                   {0, 4, 6}, {0, 4, 7}, {1, 4, 6}};  // gelu_tanh_1: x on HBM[6] and HBM[7]
  s.clocks = {{"DATA_CLK", 300, 1}, {"KERNEL_CLK", 500, 2}};
  return s;
}

XclbinSpec small_spec() {
  XclbinSpec s;
  s.vbnv = "xilinx_u250_gen3x16_xdma_4_1_202210_1";
  s.uuid = {0xf8, 0xda, 0xc6, 0x2e, 0x49, 0xd9, 0xb0, 0xaa, 0xe9, 0xfc, 0x6f, 0x26, 0x0d, 0x9d, 0x0d, 0xfb};
  s.kernels = {{"residual_add", {{"a", 0, "float*", 1, 0x10, 8}, {"b", 1, "float*", 1, 0x1c, 8},
                                 {"out", 2, "float*", 1, 0x28, 8}, {"n", 3, "int", 0, 0x34, 4}}}};
  s.cus = {{"residual_add", "residual_add_1", 0x1800000, 1}};
  for (int i = 0; i < 4; ++i)
    s.mems.push_back({1, true, 16 * 1024 * 1024, 0x4000000000 + std::uint64_t(i) * 0x400000000, "DDR[" + std::to_string(i) + "]"});
  s.connections = {{0, 0, 0}, {1, 0, 1}, {2, 0, 2}};
  s.clocks = {{"DATA_CLK", 300, 1}};
  return s;
}

}  // namespace tandem::test
