// Tandem's xclbin reader against files written by the test writer (xclbin_writer.cpp): the
// expected values below are written out by hand from sample_spec(), and where XRT is built in,
// XRT's own xrt::xclbin must read the same files the same way.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <functional>
#include <ostream>

#include "bitstream/xclbin.hpp"
#include "tandem/error.hpp"
#include "xclbin_writer.hpp"

#ifdef TANDEM_HAVE_XRT_XCLBIN
#include <xclbin.h>  // XRT's layout, to check the writer's offsets against
#endif

namespace tandem::bitstream {
// Readable failure output for GoogleTest.
void PrintTo(const XclbinKernel& k, std::ostream* os) {
  *os << k.name << " args:";
  for (const auto& a : k.args) *os << " " << a.index << ":" << a.name << "/" << a.type << "/" << a.address_qualifier;
  for (const auto& cu : k.compute_units) {
    *os << " cu " << cu.name << "@" << cu.base_address << ":";
    for (const auto& [arg, banks] : cu.banks) {
      *os << " " << arg << "=";
      for (const auto& b : banks) *os << b << ",";
    }
  }
}
}  // namespace tandem::bitstream

namespace tandem::test {
namespace {

using bitstream::XclbinInfo;
namespace fs = std::filesystem;

XclbinInfo parse(const std::vector<std::byte>& bytes) { return bitstream::parse_xclbin(bytes, "t.xclbin"); }

// The error parse() throws, or "(no error)"; any exception but a tandem::Error(Io) fails the test.
std::string error_of(const std::vector<std::byte>& bytes) {
  try {
    (void)parse(bytes);
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::Io) << e.what();
    const std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_EQ(what.rfind("t.xclbin: xclbin: ", 0), 0u) << what;
    return what;
  }
  return "(no error)";
}

std::size_t section_header(std::size_t i) { return layout::kSectionTable + i * layout::kSectionHeader; }

// What sample_spec() describes, worked out by hand: kernels sorted by name, arguments by index,
// CUs in IP_LAYOUT order with their connections' banks, memories in MEM_TOPOLOGY order.
XclbinInfo expected_sample() {
  XclbinInfo x;
  x.vbnv = "xilinx_u280_gen3x16_xdma_1_202211_1";
  x.uuid = "01234567-89ab-cdef-fedc-ba9876543210";
  x.kernels = {
      {"gelu_tanh",
       {{"x", 0, "float*", "global"}, {"out", 1, "float*", "global"}, {"n", 2, "int", "scalar"}},
       {{"gelu_tanh:gelu_tanh_1", 0x1830000, {{0, {"HBM[6]", "HBM[7]"}}, {1, {"HBM[6]"}}}}}},
      {"gemm",
       {{"a", 0, "float*", "global"}, {"b", 1, "float*", "global"}, {"c", 2, "float*", "global"},
        {"m", 3, "int", "scalar"}, {"alpha", 4, "float", "scalar"}},
       {{"gemm:gemm_1", 0x1800000, {{0, {"HBM[0]"}}, {1, {"HBM[1]"}}, {2, {"HBM[2]"}}}},
        {"gemm:gemm_2", 0x1810000, {{0, {"HBM[3]"}}, {1, {"HBM[4]"}}, {2, {"HBM[5]"}}}}}},
      {"residual_add",
       {{"a", 0, "float*", "global"}, {"b", 1, "float*", "global"}, {"out", 2, "float*", "global"}, {"n", 3, "int", "scalar"}},
       {{"residual_add:residual_add_1", 0x1820000, {{0, {"DDR[0]"}}, {1, {"DDR[0]"}}, {2, {"DDR[0]"}}}}}},
  };
  for (int i = 0; i < 8; ++i)
    x.memories.push_back({"HBM[" + std::to_string(i) + "]", "HBM", true, 262144, std::uint64_t(i) * 0x10000000});
  x.memories.push_back({"DDR[0]", "DDR4", true, 16777216, 0x4000000000});
  x.memories.push_back({"DDR[1]", "DDR4", false, 16777216, 0x4400000000});
  x.clocks = {{"DATA_CLK", 300, "data"}, {"KERNEL_CLK", 500, "kernel"}};
  return x;
}

TEST(XclbinReader, ReadsExactlyWhatWasWritten) {
  const XclbinInfo got = parse(write_xclbin(sample_spec()));
  const XclbinInfo want = expected_sample();
  EXPECT_EQ(got.vbnv, want.vbnv);
  EXPECT_EQ(got.uuid, want.uuid);
  ASSERT_EQ(got.kernels.size(), want.kernels.size());
  for (std::size_t i = 0; i < want.kernels.size(); ++i) EXPECT_EQ(got.kernels[i], want.kernels[i]) << want.kernels[i].name;
  EXPECT_EQ(got.memories, want.memories);
  EXPECT_EQ(got.clocks, want.clocks);
  EXPECT_EQ(got, want);
}

TEST(XclbinReader, SmallFileFromDisk) {
  const fs::path file = fs::temp_directory_path() / ("tandem-xclbin-" + std::to_string(::getpid()) + ".xclbin");
  write_file(file, write_xclbin(small_spec()));
  const XclbinInfo x = bitstream::read_xclbin(file);
  fs::remove(file);
  EXPECT_EQ(x.vbnv, "xilinx_u250_gen3x16_xdma_4_1_202210_1");
  EXPECT_EQ(x.uuid, "f8dac62e-49d9-b0aa-e9fc-6f260d9d0dfb");
  ASSERT_EQ(x.kernels.size(), 1u);
  EXPECT_EQ(x.kernels[0].compute_units.at(0).banks.at(2), std::vector<std::string>{"DDR[2]"});
  EXPECT_EQ(x.memories.size(), 4u);
  EXPECT_EQ(x.clocks.size(), 1u);
  const std::string missing = (fs::temp_directory_path() / "tandem-no-such.xclbin").string();
  try {
    (void)bitstream::read_xclbin(missing);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), missing + ": cannot open the xclbin file");
    EXPECT_EQ(e.category(), ErrorCategory::Io);
  }
}

TEST(XclbinReader, TruncatedAtEveryOffsetIsAClearError) {
  const std::vector<std::byte> full = write_xclbin(sample_spec());
  for (std::size_t n = 0; n < full.size(); ++n) {
    const std::vector<std::byte> cut(full.begin(), full.begin() + std::ptrdiff_t(n));
    const std::string e = error_of(cut);
    EXPECT_NE(e.find("truncated"), std::string::npos) << n << ": " << e;
  }
}

TEST(XclbinReader, BadMagic) {
  std::vector<std::byte> b = write_xclbin(small_spec());
  b[6] = std::byte{'1'};
  EXPECT_EQ(error_of(b), "t.xclbin: xclbin: bad magic (expected \"xclbin2\")");
}

TEST(XclbinReader, SectionOutsideTheFile) {
  std::vector<std::byte> b = write_xclbin(small_spec());
  put_u64(b, section_header(0) + layout::kSectionOffset, b.size() - 4);
  EXPECT_EQ(error_of(b), "t.xclbin: xclbin: section 0 (MEM_TOPOLOGY) at offset " + std::to_string(b.size() - 4) + " with " +
                             std::to_string(get_u64(b, section_header(0) + layout::kSectionSize)) +
                             " bytes runs past the end of the file (" + std::to_string(b.size()) + " bytes)");
  // A size that would wrap around 2^64 if added to the offset.
  b = write_xclbin(small_spec());
  put_u64(b, section_header(1) + layout::kSectionSize, ~std::uint64_t{0});
  EXPECT_NE(error_of(b).find("section 1 (IP_LAYOUT)"), std::string::npos);
  put_u64(b, section_header(1) + layout::kSectionOffset, ~std::uint64_t{0} - 2);
  put_u64(b, section_header(1) + layout::kSectionSize, 8);
  EXPECT_NE(error_of(b).find("runs past the end of the file"), std::string::npos);
  // Inside the header.
  b = write_xclbin(small_spec());
  put_u64(b, section_header(2) + layout::kSectionOffset, 16);
  EXPECT_EQ(error_of(b), "t.xclbin: xclbin: section 2 (CONNECTIVITY) at offset 16 overlaps the header");
}

TEST(XclbinReader, OverlappingSectionsAndHugeCounts) {
  std::vector<std::byte> b = write_xclbin(sample_spec());
  put_u64(b, section_header(3) + layout::kSectionOffset, get_u64(b, section_header(2) + layout::kSectionOffset));
  EXPECT_EQ(error_of(b), "t.xclbin: xclbin: sections 2 (CONNECTIVITY) and 3 (CLOCK_FREQ_TOPOLOGY) overlap");

  b = write_xclbin(sample_spec());
  put_u32(b, layout::kNumSections, 0xFFFFFFFFu);
  EXPECT_EQ(error_of(b), "t.xclbin: xclbin: 4294967295 sections, more than the format's 65536");
  put_u32(b, layout::kNumSections, 60000);
  EXPECT_NE(error_of(b).find("truncated: the table of 60000 sections ends at byte"), std::string::npos);

  b = write_xclbin(sample_spec());
  put_u32(b, get_u64(b, section_header(0) + layout::kSectionOffset), 1000);  // MEM_TOPOLOGY count
  EXPECT_EQ(error_of(b), "t.xclbin: xclbin: MEM_TOPOLOGY: 1000 entries need 40008 bytes, the section has " +
                             std::to_string(get_u64(b, section_header(0) + layout::kSectionSize)));
  put_u32(b, get_u64(b, section_header(0) + layout::kSectionOffset), 0x80000000u);
  EXPECT_EQ(error_of(b), "t.xclbin: xclbin: MEM_TOPOLOGY: negative count -2147483648");

  b = write_xclbin(sample_spec());
  put_u64(b, layout::kLength, b.size() + 1);
  EXPECT_EQ(error_of(b), "t.xclbin: xclbin: truncated: the header gives a length of " + std::to_string(b.size() + 1) +
                             " bytes, the file has " + std::to_string(b.size()));
}

TEST(XclbinReader, ConnectivityIndexesOutOfRange) {
  XclbinSpec s = sample_spec();
  s.connections.push_back({0, 9, 0});
  EXPECT_EQ(error_of(write_xclbin(s)), "t.xclbin: xclbin: CONNECTIVITY entry 12: IP index 9 is out of range (5 IPs)");
  s = sample_spec();
  s.connections.push_back({0, 0, 10});
  EXPECT_EQ(error_of(write_xclbin(s)), "t.xclbin: xclbin: CONNECTIVITY entry 12: memory index 10 is out of range (10 memories)");
}

TEST(XclbinReader, MalformedMetadataXml) {
  // Replace the metadata's closing tag to leave <project> open.
  std::vector<std::byte> b = write_xclbin(small_spec());
  const std::string text(reinterpret_cast<const char*>(b.data()), b.size());
  const std::size_t at = text.rfind("</project>");
  ASSERT_NE(at, std::string::npos);
  b[at + 2] = std::byte{'q'};
  const std::string e = error_of(b);
  EXPECT_NE(e.find("EMBEDDED_METADATA: </qroject> closes <project>"), std::string::npos) << e;

  XclbinSpec s = small_spec();
  s.kernels[0].args[0].name = "a&b<c";  // escaped by the writer, decoded by the reader
  EXPECT_EQ(parse(write_xclbin(s)).kernels[0].args[0].name, "a&b<c");
}

// Deterministic random corruption: every outcome is a parse or a tandem::Error, never a crash.
TEST(XclbinReader, RandomCorruptionNeverCrashes) {
  const std::vector<std::byte> good = write_xclbin(sample_spec());
  std::uint32_t state = 12345;
  auto next = [&] {
    state = state * 1664525u + 1013904223u;
    return state >> 8;
  };
  int errors = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<std::byte> b = good;
    const int flips = 1 + int(next() % 4);
    for (int i = 0; i < flips; ++i) {
      // Half of the flips hit the header and section table, where the offsets live.
      const std::size_t at = next() % 2 ? next() % (layout::kSectionTable + 5 * layout::kSectionHeader) : next() % b.size();
      b[at] = std::byte(static_cast<std::uint8_t>(next()));
    }
    try {
      (void)parse(b);
    } catch (const Error& e) {
      ++errors;
      ASSERT_EQ(e.category(), ErrorCategory::Io) << e.what();
    }
  }
  EXPECT_GT(errors, 100);
}

// The xclbin files committed for the CLI tests, the bad-input catalogue and the fuzz seed corpus
// are this writer's output; TANDEM_REGENERATE_XCLBIN_SAMPLES=1 rewrites them.
std::map<fs::path, std::vector<std::byte>> committed_samples() {
  const fs::path src = TANDEM_SOURCE_DIR;
  std::vector<std::byte> truncated = write_xclbin(sample_spec());
  truncated.resize(700);
  std::vector<std::byte> out_of_range = write_xclbin(small_spec());
  put_u64(out_of_range, section_header(1) + layout::kSectionOffset, 1u << 20);
  return {{src / "tests/bad_inputs/xclbin/u280_sample.xclbin", write_xclbin(sample_spec())},
          {src / "tests/bad_inputs/xclbin/u250_small.xclbin", write_xclbin(small_spec())},
          {src / "tests/bad_inputs/xclbin/truncated.xclbin", truncated},
          {src / "tests/bad_inputs/xclbin/section_out_of_range.xclbin", out_of_range},
          {src / "tests/fuzz/corpus/xclbin/u250_small.xclbin", write_xclbin(small_spec())}};
}

TEST(XclbinWriter, CommittedSamplesAreCurrent) {
  const char* regenerate = std::getenv("TANDEM_REGENERATE_XCLBIN_SAMPLES");
  for (const auto& [path, bytes] : committed_samples()) {
    if (regenerate && std::string(regenerate) == "1") {
      fs::create_directories(path.parent_path());
      write_file(path, bytes);
    }
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_EQ(got.size(), bytes.size()) << path;
    EXPECT_EQ(std::memcmp(got.data(), bytes.data(), bytes.size()), 0) << path;
  }
}

#ifdef TANDEM_HAVE_XRT_XCLBIN
TEST(XclbinWriter, OffsetsMatchXrtHeader) {
  static_assert(offsetof(axlf, m_header) + offsetof(axlf_header, m_length) == layout::kLength);
  static_assert(offsetof(axlf, m_header) + offsetof(axlf_header, m_platformVBNV) == layout::kVbnv);
  static_assert(offsetof(axlf, m_header) + offsetof(axlf_header, uuid) == layout::kUuid);
  static_assert(offsetof(axlf, m_header) + offsetof(axlf_header, m_numSections) == layout::kNumSections);
  static_assert(offsetof(axlf, m_sections) == layout::kSectionTable);
  static_assert(sizeof(axlf_section_header) == layout::kSectionHeader);
  static_assert(offsetof(axlf_section_header, m_sectionOffset) == layout::kSectionOffset);
  static_assert(offsetof(axlf_section_header, m_sectionSize) == layout::kSectionSize);
  static_assert(offsetof(mem_topology, m_mem_data) == 8 && offsetof(ip_layout, m_ip_data) == 8);
  static_assert(offsetof(connectivity, m_connection) == 4 && offsetof(clock_freq_topology, m_clock_freq) == 2);
  SUCCEED();
}

// XRT's reader names no address qualifier; everything else must agree.
XclbinInfo without_qualifiers(XclbinInfo x) {
  for (auto& k : x.kernels)
    for (auto& a : k.args) a.address_qualifier.clear();
  return x;
}

TEST(XclbinReader, AgreesWithXrt) {
  for (const XclbinSpec& spec : {sample_spec(), small_spec()}) {
    const fs::path file = fs::temp_directory_path() / ("tandem-xclbin-xrt-" + std::to_string(::getpid()) + ".xclbin");
    write_file(file, write_xclbin(spec));
    const XclbinInfo ours = bitstream::read_xclbin(file);
    const XclbinInfo xrt = bitstream::read_xclbin_with_xrt(file);
    fs::remove(file);
    EXPECT_EQ(xrt.vbnv, ours.vbnv);
    EXPECT_EQ(xrt.uuid, ours.uuid);
    EXPECT_EQ(xrt.memories, ours.memories);
    EXPECT_EQ(xrt.clocks, ours.clocks);
    const XclbinInfo plain = without_qualifiers(ours);
    ASSERT_EQ(xrt.kernels.size(), plain.kernels.size());
    for (std::size_t i = 0; i < plain.kernels.size(); ++i) EXPECT_EQ(xrt.kernels[i], plain.kernels[i]) << plain.kernels[i].name;
  }
}

TEST(XclbinReader, XrtReaderRejectsCorruptFilesWithOurMessage) {
  std::vector<std::byte> b = write_xclbin(small_spec());
  b.resize(b.size() - 9);
  const fs::path file = fs::temp_directory_path() / ("tandem-xclbin-cut-" + std::to_string(::getpid()) + ".xclbin");
  write_file(file, b);
  try {
    (void)bitstream::read_xclbin_with_xrt(file);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(file.string() + ": xclbin: truncated"), std::string::npos) << e.what();
  }
  fs::remove(file);
}
#endif

}  // namespace
}  // namespace tandem::test
