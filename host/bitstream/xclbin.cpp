#include "bitstream/xclbin.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string_view>

#include "bitstream/xml_scan.hpp"
#include "core/printable.hpp"
#include "tandem/error.hpp"

namespace tandem::bitstream {
namespace {

// The axlf layouts Tandem reads, mirrored from XRT's xrt/xclbin.h (which asserts the same
// sizes). Fields are copied out with memcpy, so the file needs no alignment; the values are
// little-endian, as xclbin files are and as the hosts that run XRT are.
static_assert(std::endian::native == std::endian::little, "the xclbin reader assumes a little-endian host");

struct SectionHeader {  // axlf_section_header
  std::uint32_t kind;
  char name[16];
  std::uint64_t offset;
  std::uint64_t size;
};
static_assert(sizeof(SectionHeader) == 40 && offsetof(SectionHeader, offset) == 24);

struct AxlfHeader {  // axlf_header
  std::uint64_t length;
  std::uint64_t time_stamp;
  std::uint64_t feature_rom_time_stamp;
  std::uint16_t version_patch;
  std::uint8_t version_major;
  std::uint8_t version_minor;
  std::uint16_t mode;
  std::uint16_t action_mask;
  unsigned char rom_uuid[16];
  unsigned char platform_vbnv[64];
  unsigned char uuid[16];
  char debug_bin[16];
  std::uint32_t num_sections;
};
static_assert(sizeof(AxlfHeader) == 152 && offsetof(AxlfHeader, platform_vbnv) == 48 &&
              offsetof(AxlfHeader, uuid) == 112 && offsetof(AxlfHeader, num_sections) == 144);

struct Axlf {  // axlf up to (not including) its section table
  char magic[8];
  std::int32_t signature_length;
  unsigned char reserved[28];
  unsigned char key_block[256];
  std::uint64_t unique_id;
  AxlfHeader header;
};
// xclbin.h's struct axlf is 496 bytes including its first section header.
static_assert(sizeof(Axlf) + sizeof(SectionHeader) == 496 && offsetof(Axlf, header) == 304);

struct MemData {  // mem_data; m_size is in KB for memories
  std::uint8_t type;
  std::uint8_t used;
  std::uint8_t padding[6];
  std::uint64_t size_kb;
  std::uint64_t base_address;
  unsigned char tag[16];
};
static_assert(sizeof(MemData) == 40);

struct Connection {  // connection
  std::int32_t arg_index;
  std::int32_t ip_layout_index;
  std::int32_t mem_data_index;
};
static_assert(sizeof(Connection) == 12);

struct IpData {  // ip_data
  std::uint32_t type;
  std::uint32_t properties;
  std::uint64_t base_address;
  unsigned char name[64];
};
static_assert(sizeof(IpData) == 80);

struct ClockFreq {  // clock_freq
  std::uint16_t freq_mhz;
  std::uint8_t type;
  std::uint8_t unused[5];
  char name[128];
};
static_assert(sizeof(ClockFreq) == 136);

// Where each section's array starts: after its count, padded to the element's alignment
// (mem_topology and ip_layout hold 8-byte members, connectivity 4, clock_freq_topology 2).
constexpr std::size_t kMemArray = 8, kConnArray = 4, kIpArray = 8, kClockArray = 2;

enum SectionKind : std::uint32_t {
  kEmbeddedMetadata = 2,
  kMemTopology = 6,
  kConnectivity = 7,
  kIpLayout = 8,
  kClockFreqTopology = 11,
};
constexpr std::uint32_t kIpKernel = 1;  // IP_TYPE IP_KERNEL
constexpr std::uint64_t kMaxSections = 0x10000;  // XCLBIN_MAX_NUM_SECTION

std::string kind_name(std::uint32_t kind) {
  static constexpr std::array<const char*, 32> names = {
      "BITSTREAM", "CLEARING_BITSTREAM", "EMBEDDED_METADATA", "FIRMWARE", "DEBUG_DATA", "SCHED_FIRMWARE",
      "MEM_TOPOLOGY", "CONNECTIVITY", "IP_LAYOUT", "DEBUG_IP_LAYOUT", "DESIGN_CHECK_POINT", "CLOCK_FREQ_TOPOLOGY",
      "MCS", "BMC", "BUILD_METADATA", "KEYVALUE_METADATA", "USER_METADATA", "DNA_CERTIFICATE", "PDI",
      "BITSTREAM_PARTIAL_PDI", "PARTITION_METADATA", "EMULATION_DATA", "SYSTEM_METADATA", "SOFT_KERNEL",
      "ASK_FLASH", "AIE_METADATA", "ASK_GROUP_TOPOLOGY", "ASK_GROUP_CONNECTIVITY", "SMARTNIC", "AIE_RESOURCES",
      "OVERLAY", "VENDER_METADATA"};
  return kind < names.size() ? names[kind] : "kind " + std::to_string(kind);
}

// One parse: the file's bytes and how to word an error about them.
class Reader {
 public:
  Reader(std::span<const std::byte> bytes, const std::string& where) : bytes_(bytes), where_(where) {}

  XclbinInfo parse();

 private:
  [[noreturn]] void fail(const std::string& what) const { throw Error(where_ + ": xclbin: " + printable(what), ErrorCategory::Io); }

  template <class T>
  T load(std::span<const std::byte> from, std::size_t offset) const {
    T value;
    std::memcpy(&value, from.data() + offset, sizeof(T));
    return value;
  }

  void read_sections(const AxlfHeader& header);
  // The number of elements of a section whose count is a @p Count at offset 0 and whose
  // array of @p stride-byte elements starts at @p array_offset, checked against its size.
  template <class Count>
  std::size_t element_count(std::uint32_t kind, std::size_t array_offset, std::size_t stride) const;
  void read_memories(XclbinInfo& info) const;
  std::vector<IpData> read_ip_layout() const;
  void read_connectivity(const std::vector<IpData>& ips, const XclbinInfo& info,
                         std::map<std::string, XclbinComputeUnit*>& cu_by_ip) const;
  void read_clocks(XclbinInfo& info) const;
  std::vector<XmlKernel> read_metadata() const;

  std::span<const std::byte> bytes_;
  const std::string& where_;
  std::map<std::uint32_t, std::span<const std::byte>> sections_;  // first section of each kind
};

std::string fixed_string(const unsigned char* chars, std::size_t n) {
  const char* p = reinterpret_cast<const char*>(chars);
  return {p, strnlen(p, n)};
}

std::string uuid_string(const unsigned char (&u)[16]) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += hex[u[i] >> 4];
    s += hex[u[i] & 15];
  }
  return s;
}

std::string clock_type_name(std::uint8_t type) {
  switch (type) {
    case 0: return "unused";
    case 1: return "data";
    case 2: return "kernel";
    case 3: return "system";
    default: return "type " + std::to_string(type);
  }
}

XclbinInfo Reader::parse() {
  if (bytes_.size() < sizeof(Axlf))
    fail("truncated: " + std::to_string(bytes_.size()) + " bytes, shorter than the " + std::to_string(sizeof(Axlf)) +
         "-byte header");
  const Axlf top = load<Axlf>(bytes_, 0);
  if (std::memcmp(top.magic, "xclbin2", 8) != 0) fail("bad magic (expected \"xclbin2\")");
  const std::uint64_t length = top.header.length;
  if (length > bytes_.size())
    fail("truncated: the header gives a length of " + std::to_string(length) + " bytes, the file has " +
         std::to_string(bytes_.size()));
  if (length < sizeof(Axlf)) fail("the header's length " + std::to_string(length) + " is shorter than the header");
  bytes_ = bytes_.first(static_cast<std::size_t>(length));
  read_sections(top.header);

  XclbinInfo info;
  info.vbnv = fixed_string(top.header.platform_vbnv, sizeof top.header.platform_vbnv);
  info.uuid = uuid_string(top.header.uuid);
  read_memories(info);
  const std::vector<IpData> ips = read_ip_layout();
  read_clocks(info);

  std::map<std::string, XclbinKernel> kernels;
  for (XmlKernel& k : read_metadata()) {
    XclbinKernel& kernel = kernels[k.name];
    kernel.name = k.name;
    if (!kernel.args.empty()) continue;  // a kernel described twice: the first description holds
    for (XmlArg& a : k.args) kernel.args.push_back({std::move(a.name), a.index, std::move(a.type), std::move(a.address_qualifier)});
  }
  std::map<std::string, XclbinComputeUnit*> cu_by_ip;
  for (const IpData& ip : ips) {
    if (ip.type != kIpKernel) continue;
    const std::string name = fixed_string(ip.name, sizeof ip.name);
    const std::string kernel_name = name.substr(0, name.find(':'));
    XclbinKernel& kernel = kernels[kernel_name];
    kernel.name = kernel_name;
    kernel.compute_units.push_back({name, ip.base_address, {}});
  }
  // Pointers into the kernels' vectors are taken only once every CU has been added.
  for (auto& [name, kernel] : kernels)
    for (XclbinComputeUnit& cu : kernel.compute_units) cu_by_ip[cu.name] = &cu;
  read_connectivity(ips, info, cu_by_ip);
  for (auto& [name, kernel] : kernels) info.kernels.push_back(std::move(kernel));
  return info;
}

void Reader::read_sections(const AxlfHeader& header) {
  const std::uint64_t n = header.num_sections;
  if (n > kMaxSections) fail(std::to_string(n) + " sections, more than the format's " + std::to_string(kMaxSections));
  const std::uint64_t table_end = sizeof(Axlf) + n * sizeof(SectionHeader);
  if (table_end > bytes_.size())
    fail("truncated: the table of " + std::to_string(n) + " sections ends at byte " + std::to_string(table_end) +
         ", the file has " + std::to_string(bytes_.size()));
  struct Extent {
    std::uint64_t offset, size;
    std::size_t index;
    std::uint32_t kind;
  };
  std::vector<Extent> extents;
  for (std::size_t i = 0; i < n; ++i) {
    const auto s = load<SectionHeader>(bytes_, sizeof(Axlf) + i * sizeof(SectionHeader));
    const std::string label = "section " + std::to_string(i) + " (" + kind_name(s.kind) + ")";
    // Written so that no sum can overflow: offset <= length, then size <= length - offset.
    if (s.offset > bytes_.size() || s.size > bytes_.size() - s.offset)
      fail(label + " at offset " + std::to_string(s.offset) + " with " + std::to_string(s.size) +
           " bytes runs past the end of the file (" + std::to_string(bytes_.size()) + " bytes)");
    if (s.size == 0) continue;
    if (s.offset < table_end) fail(label + " at offset " + std::to_string(s.offset) + " overlaps the header");
    extents.push_back({s.offset, s.size, i, s.kind});
    sections_.try_emplace(s.kind, bytes_.subspan(static_cast<std::size_t>(s.offset), static_cast<std::size_t>(s.size)));
  }
  std::sort(extents.begin(), extents.end(), [](const Extent& a, const Extent& b) { return a.offset < b.offset; });
  for (std::size_t i = 1; i < extents.size(); ++i) {
    const Extent& a = extents[i - 1];
    const Extent& b = extents[i];
    if (b.offset < a.offset + a.size)
      fail("sections " + std::to_string(a.index) + " (" + kind_name(a.kind) + ") and " + std::to_string(b.index) + " (" +
           kind_name(b.kind) + ") overlap");
  }
}

template <class Count>
std::size_t Reader::element_count(std::uint32_t kind, std::size_t array_offset, std::size_t stride) const {
  const std::span<const std::byte> s = sections_.at(kind);
  if (s.size() < sizeof(Count)) fail(kind_name(kind) + ": " + std::to_string(s.size()) + " bytes, too short for its count");
  const Count count = load<Count>(s, 0);
  if (count < 0) fail(kind_name(kind) + ": negative count " + std::to_string(count));
  if (count == 0) return 0;
  const std::uint64_t need = array_offset + std::uint64_t(count) * stride;
  if (need > s.size())
    fail(kind_name(kind) + ": " + std::to_string(count) + " entries need " + std::to_string(need) +
         " bytes, the section has " + std::to_string(s.size()));
  return static_cast<std::size_t>(count);
}

void Reader::read_memories(XclbinInfo& info) const {
  if (!sections_.contains(kMemTopology)) return;
  const std::size_t n = element_count<std::int32_t>(kMemTopology, kMemArray, sizeof(MemData));
  const std::span<const std::byte> s = sections_.at(kMemTopology);
  for (std::size_t i = 0; i < n; ++i) {
    const auto m = load<MemData>(s, kMemArray + i * sizeof(MemData));
    info.memories.push_back({fixed_string(m.tag, sizeof m.tag), memory_type_name(m.type), m.used != 0, m.size_kb, m.base_address});
  }
}

std::vector<IpData> Reader::read_ip_layout() const {
  std::vector<IpData> ips;
  if (!sections_.contains(kIpLayout)) return ips;
  const std::size_t n = element_count<std::int32_t>(kIpLayout, kIpArray, sizeof(IpData));
  const std::span<const std::byte> s = sections_.at(kIpLayout);
  for (std::size_t i = 0; i < n; ++i) ips.push_back(load<IpData>(s, kIpArray + i * sizeof(IpData)));
  return ips;
}

void Reader::read_connectivity(const std::vector<IpData>& ips, const XclbinInfo& info,
                               std::map<std::string, XclbinComputeUnit*>& cu_by_ip) const {
  if (!sections_.contains(kConnectivity)) return;
  const std::size_t n = element_count<std::int32_t>(kConnectivity, kConnArray, sizeof(Connection));
  const std::span<const std::byte> s = sections_.at(kConnectivity);
  std::map<XclbinComputeUnit*, std::map<int, std::vector<int>>> memory_indexes;
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = load<Connection>(s, kConnArray + i * sizeof(Connection));
    const std::string label = "CONNECTIVITY entry " + std::to_string(i);
    if (c.ip_layout_index < 0 || std::size_t(c.ip_layout_index) >= ips.size())
      fail(label + ": IP index " + std::to_string(c.ip_layout_index) + " is out of range (" + std::to_string(ips.size()) +
           " IPs)");
    if (c.mem_data_index < 0 || std::size_t(c.mem_data_index) >= info.memories.size())
      fail(label + ": memory index " + std::to_string(c.mem_data_index) + " is out of range (" +
           std::to_string(info.memories.size()) + " memories)");
    if (c.arg_index < 0) fail(label + ": negative argument index " + std::to_string(c.arg_index));
    const IpData& ip = ips[static_cast<std::size_t>(c.ip_layout_index)];
    if (ip.type != kIpKernel) continue;
    auto it = cu_by_ip.find(fixed_string(ip.name, sizeof ip.name));
    // Two IPs of one name would share one entry; both connect to the same CU record.
    if (it != cu_by_ip.end()) memory_indexes[it->second][c.arg_index].push_back(c.mem_data_index);
  }
  // Banks in MEM_TOPOLOGY order, whatever order the connections came in (XRT reports them so).
  for (auto& [cu, by_arg] : memory_indexes)
    for (auto& [arg, indexes] : by_arg) {
      std::sort(indexes.begin(), indexes.end());
      for (int m : indexes) cu->banks[arg].push_back(info.memories[static_cast<std::size_t>(m)].tag);
    }
}

void Reader::read_clocks(XclbinInfo& info) const {
  if (!sections_.contains(kClockFreqTopology)) return;
  const std::size_t n = element_count<std::int16_t>(kClockFreqTopology, kClockArray, sizeof(ClockFreq));
  const std::span<const std::byte> s = sections_.at(kClockFreqTopology);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = load<ClockFreq>(s, kClockArray + i * sizeof(ClockFreq));
    info.clocks.push_back({std::string(c.name, strnlen(c.name, sizeof c.name)), c.freq_mhz, clock_type_name(c.type)});
  }
}

std::vector<XmlKernel> Reader::read_metadata() const {
  if (!sections_.contains(kEmbeddedMetadata)) return {};
  const std::span<const std::byte> s = sections_.at(kEmbeddedMetadata);
  std::string_view text(reinterpret_cast<const char*>(s.data()), s.size());
  text = text.substr(0, text.find('\0'));  // xclbinutil pads the section with NULs
  return kernels_from_metadata(text, where_ + ": xclbin: EMBEDDED_METADATA");
}

}  // namespace

std::string memory_type_name(std::uint8_t type) {
  static constexpr std::array<const char*, 12> names = {"DDR3", "DDR4", "DRAM", "STREAMING", "PREALLOCATED_GLOB", "ARE",
                                                        "HBM", "BRAM", "URAM", "STREAMING_CONNECTION", "HOST", "PS_KERNEL"};
  return type < names.size() ? names[type] : "type " + std::to_string(type);
}

XclbinInfo parse_xclbin(std::span<const std::byte> bytes, const std::string& where) { return Reader(bytes, where).parse(); }

XclbinInfo read_xclbin(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open the xclbin file", ErrorCategory::Io);
  const std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(path.string() + ": cannot read the xclbin file", ErrorCategory::Io);
  return parse_xclbin(std::as_bytes(std::span(data)), path.string());
}

}  // namespace tandem::bitstream
