// Bitstream manifests: the shipped ones against the kernel sources, the schema's and the
// loader's errors (one line, the file and a JSON pointer), and finding a card's binary.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "bitstream/manifest.hpp"
#include "tandem/error.hpp"

#ifdef TANDEM_HAVE_OPENCL
#include "backends/opencl/program_cache.hpp"
#endif

namespace tandem::test {
namespace {

namespace fs = std::filesystem;
using bitstream::Manifest;
using nlohmann::json;

const fs::path kSource = TANDEM_SOURCE_DIR;
const fs::path kBitstreams = kSource / "bitstreams";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string error_of(const std::function<void()>& f, ErrorCategory want = ErrorCategory::Io) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), want) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    return e.what();
  }
  return "(no error)";
}

json u55c() { return json::parse(slurp(kBitstreams / "u55c" / "manifest.json")); }

std::string parse_error(const json& j) {
  return error_of([&] { (void)bitstream::parse_manifest(j.dump(), "bitstreams/u55c/manifest.json"); });
}

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("tandem-manifest-" + std::to_string(::getpid()) + "-" + std::to_string(n_++))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  static inline int n_ = 0;
  fs::path path_;
};

// Kernel name -> its __global argument names, read from fpga/kernels/*.cl independently of the
// generator script (a regex over each `__kernel ... void name(params)`).
std::map<std::string, std::vector<std::string>> kernels_in_sources() {
  std::map<std::string, std::vector<std::string>> out;
  const std::regex kernel(R"(__kernel\b[^;{]*?\bvoid\s+(\w+)\s*\(([^)]*)\))");
  const std::regex name(R"((\w+)\s*$)");
  for (const auto& entry : fs::directory_iterator(kSource / "fpga" / "kernels")) {
    if (entry.path().extension() != ".cl") continue;
    const std::string text = slurp(entry.path());
    for (std::sregex_iterator it(text.begin(), text.end(), kernel), end; it != end; ++it) {
      std::vector<std::string>& args = out[(*it)[1]];
      std::stringstream params((*it)[2].str());
      for (std::string p; std::getline(params, p, ',');) {
        std::smatch m;
        if (p.find("__global") != std::string::npos && std::regex_search(p, m, name)) args.push_back(m[1]);
      }
    }
  }
  return out;
}

TEST(Manifest, ShippedManifestsDescribeEveryKernelOfTheSources) {
  const auto sources = kernels_in_sources();
  ASSERT_GE(sources.size(), 30u);
  const std::map<std::string, std::string> bank_kind = {{"u250", "DDR"}, {"u280", "HBM"}, {"u55c", "HBM"}};
  for (const auto& [card, kind] : bank_kind) {
    SCOPED_TRACE(card);
    const Manifest m = bitstream::load_manifest(kBitstreams / card / "manifest.json");
    EXPECT_EQ(m.card, card);
    EXPECT_NE(m.platform.find("xilinx_" + card + "_"), std::string::npos) << m.platform;
    ASSERT_EQ(m.kernels.size(), sources.size());
    std::set<std::string> families;
    for (const auto& k : m.kernels) {
      ASSERT_TRUE(sources.contains(k.name)) << k.name;
      std::vector<std::string> args;
      for (const auto& [arg, banks] : k.banks) {
        args.push_back(arg);
        EXPECT_EQ(banks.at(0).rfind(kind + "[", 0), 0u) << k.name << "." << arg;
      }
      std::vector<std::string> want = sources.at(k.name);
      std::sort(want.begin(), want.end());
      EXPECT_EQ(args, want) << k.name;
      families.insert(k.family);
    }
    EXPECT_EQ(families.size(), 12u);  // the 12 .cl files
    EXPECT_EQ(m.binaries.at(bitstream::Target::Hw), "tandem.hw.xclbin");
    // Every performance figure carries its source (the schema requires the keys; non-empty here).
    for (const char* f : {"clock_mhz", "gemm_rows", "dsps", "memory_gbps", "kernel_launch_us", "bitstream_load_ms", "pcie"})
      EXPECT_GT(m.source.at(f).size(), 20u) << f;
  }
  const Manifest u250 = bitstream::load_manifest(kBitstreams / "u250" / "manifest.json");
  EXPECT_EQ(u250.memory, (std::map<std::string, int>{{"DDR", 4}}));
  const Manifest u55 = bitstream::load_manifest(kBitstreams / "u55c" / "manifest.json");
  EXPECT_EQ(u55.memory, (std::map<std::string, int>{{"HBM", 32}}));
  EXPECT_EQ(u55.performance_model.dsps, 9024);
}

TEST(Manifest, EmbeddedSchemaIsTheFileInTheTree) {
  EXPECT_EQ(bitstream::manifest_schema(), slurp(kBitstreams / "manifest.schema.json"));
}

TEST(Manifest, SchemaErrorsNameTheFileAndAJsonPointer) {
  const std::string file = "bitstreams/u55c/manifest.json: ";
  json j = u55c();
  j["performance_model"].erase("dsps");
  EXPECT_EQ(parse_error(j).rfind(file + "/performance_model: ", 0), 0u) << parse_error(j);
  EXPECT_NE(parse_error(j).find("dsps"), std::string::npos) << parse_error(j);
  j = u55c();
  j["performance_model"]["clock_mhz"] = "fast";
  EXPECT_EQ(parse_error(j).rfind(file + "/performance_model/clock_mhz: ", 0), 0u) << parse_error(j);
  j = u55c();
  j["kernels"][3]["compute_units"] = 0;
  EXPECT_EQ(parse_error(j).rfind(file + "/kernels/3/compute_units: ", 0), 0u) << parse_error(j);
  j = u55c();
  j["binaries"]["hw2"] = "x.xclbin";
  EXPECT_EQ(parse_error(j).rfind(file + "/binaries", 0), 0u) << parse_error(j);
  j = u55c();
  j["source"].erase("memory_gbps");
  EXPECT_EQ(parse_error(j).rfind(file + "/source: ", 0), 0u) << parse_error(j);
  EXPECT_EQ(error_of([] { (void)bitstream::parse_manifest("{\"card\": ", "m.json"); }).rfind("m.json: /: not valid JSON: ", 0), 0u);
  EXPECT_EQ(error_of([] { (void)bitstream::parse_manifest("[]", "m.json"); }).rfind("m.json: /: ", 0), 0u);
}

TEST(Manifest, BankAndComputeUnitErrors) {
  json j = u55c();
  j["kernels"][0]["banks"]["q"] = {"HBM[40]"};
  EXPECT_EQ(parse_error(j), "bitstreams/u55c/manifest.json: /kernels/0/banks/q/0: HBM[40] is not a bank of "
                            "xilinx_u55c_gen3x16_xdma_3_202210_1 (HBM[0..31])");
  j = u55c();
  j["kernels"][0]["banks"]["q"] = {"DDR[0]"};
  EXPECT_NE(parse_error(j).find("DDR[0] is not a bank of"), std::string::npos);
  j = u55c();
  j["kernels"][0]["banks"]["q"] = {"HBM[3:1]"};
  EXPECT_NE(parse_error(j).find("\"HBM[3:1]\" is not a bank name like HBM[3], DDR[0] or HBM[0:31]"), std::string::npos);
  j = u55c();
  j["kernels"][0]["compute_units"] = 2;
  j["kernels"][0]["banks"]["q"] = {"HBM[0]", "HBM[1]", "HBM[2]"};
  EXPECT_EQ(parse_error(j),
            "bitstreams/u55c/manifest.json: /kernels/0/banks/q: 3 banks for 2 compute units (give 1, or 1 per unit)");
  j = u55c();
  j["kernels"][2]["name"] = j["kernels"][0]["name"];
  EXPECT_NE(parse_error(j).find("/kernels/2/name: kernel "), std::string::npos);
  // One bank per CU is read per CU.
  j = u55c();
  j["kernels"][0]["compute_units"] = 2;
  j["kernels"][0]["banks"]["q"] = {"HBM[4]", "HBM[5:6]"};
  const Manifest m = bitstream::parse_manifest(j.dump(), "m");
  EXPECT_EQ(m.kernels[0].bank("q", 1), "HBM[5:6]");
  EXPECT_EQ(m.kernels[0].bank("q", 2), "");
  EXPECT_EQ(m.kernels[1].bank(m.kernels[1].banks.begin()->first, 5), "HBM[0:31]");
}

TEST(Manifest, FindsTheCardOfAPlatformAndItsBinary) {
  TempDir dir;
  for (const char* card : {"u250", "u55c"}) {
    fs::create_directories(dir.path() / card);
    fs::copy_file(kBitstreams / card / "manifest.json", dir.path() / card / "manifest.json");
  }
  fs::create_directories(dir.path() / "notes");  // no manifest: skipped
  EXPECT_EQ(bitstream::find_manifest_for_platform("xilinx_u55c_gen3x16_xdma_3_202210_1", dir.path()),
            dir.path() / "u55c" / "manifest.json");
  // XRT's OpenCL platform reports shell names that differ from the deployment name.
  EXPECT_EQ(bitstream::find_manifest_for_platform("xilinx_u250_gen3x16_xdma_shell_4_1", dir.path()),
            dir.path() / "u250" / "manifest.json");
  EXPECT_FALSE(bitstream::find_manifest_for_platform("xilinx_u200_gen3x16_xdma_base_2", dir.path()));
  EXPECT_FALSE(bitstream::find_manifest_for_platform("xilinx_u2500", dir.path()));

  const fs::path file = dir.path() / "u55c" / "manifest.json";
  const Manifest m = bitstream::load_manifest(file);
  const std::string e = error_of([&] { (void)bitstream::binary_path(m, file, bitstream::Target::HwEmu); }, ErrorCategory::Device);
  EXPECT_EQ(e, file.string() + " names " + (dir.path() / "u55c" / "tandem.hw_emu.xclbin").string() +
                   " for target hw_emu, which does not exist (not built yet); build it with make -C fpga CARD=u55c "
                   "TARGET=hw_emu (needs Vitis; see docs/fpga.md)");
  std::ofstream(dir.path() / "u55c" / "tandem.hw_emu.xclbin") << "xclbin2";
  EXPECT_EQ(bitstream::binary_path(m, file, bitstream::Target::HwEmu), dir.path() / "u55c" / "tandem.hw_emu.xclbin");

  std::ofstream(dir.path() / "u250" / "manifest.json") << "{";
  EXPECT_NE(error_of([&] { (void)bitstream::find_manifest_for_platform("x", dir.path()); }).find("u250/manifest.json: /: not valid JSON"),
            std::string::npos);
}

TEST(Manifest, TargetFromEnvironment) {
  ::unsetenv("XCL_EMULATION_MODE");
  EXPECT_EQ(bitstream::target_from_environment(), bitstream::Target::Hw);
  ::setenv("XCL_EMULATION_MODE", "sw_emu", 1);
  EXPECT_EQ(bitstream::target_from_environment(), bitstream::Target::SwEmu);
  ::setenv("XCL_EMULATION_MODE", "fast", 1);
  EXPECT_EQ(error_of([] { (void)bitstream::target_from_environment(); }, ErrorCategory::InvalidArgument),
            "XCL_EMULATION_MODE: unknown build target \"fast\" (expected hw, hw_emu or sw_emu)");
  ::unsetenv("XCL_EMULATION_MODE");
}

#ifdef TANDEM_HAVE_OPENCL
TEST(Manifest, OpenclFpgaBinaryComesFromTheCardManifest) {
  TempDir dir;
  opencl::DeviceInfo card;
  card.index = 1;
  card.name = "xilinx_u55c_gen3x16_xdma_3_202210_1";
  card.fpga = true;
  ::unsetenv("XCL_EMULATION_MODE");
  EXPECT_EQ(error_of([&] { opencl::fpga_binary(card, dir.path()); }, ErrorCategory::Device),
            "opencl:1 (xilinx_u55c_gen3x16_xdma_3_202210_1) is an FPGA platform and needs a prebuilt binary: no manifest "
            "under " + dir.path().string() + " names this platform or its card; add <card>/manifest.json there and build "
            "it with make -C fpga CARD=<card> (docs/fpga.md)");
  fs::create_directories(dir.path() / "u55c");
  fs::copy_file(kBitstreams / "u55c" / "manifest.json", dir.path() / "u55c" / "manifest.json");
  EXPECT_NE(error_of([&] { opencl::fpga_binary(card, dir.path()); }, ErrorCategory::Device).find("make -C fpga CARD=u55c TARGET=hw "),
            std::string::npos);
  std::ofstream(dir.path() / "u55c" / "tandem.hw.xclbin") << "xclbin2";
  EXPECT_EQ(opencl::fpga_binary(card, dir.path()), dir.path() / "u55c" / "tandem.hw.xclbin");
}
#endif

}  // namespace
}  // namespace tandem::test
