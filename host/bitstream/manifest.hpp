#pragma once
// A card's bitstream manifest, bitstreams/<card>/manifest.json: the Vitis platform the kernels
// are built for, the binary of each build target, the kernels with their compute units and the
// memory bank of each argument (what fpga/ turns into a v++ connectivity file), and the
// analytical performance model the scheduler plans with. Every manifest is validated against
// bitstreams/manifest.schema.json (embedded in the library at build time) and then for what a
// schema cannot say (bank names within the platform's banks, one bank or one per compute unit).

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tandem::bitstream {

// Vitis build targets: a card binary, hardware emulation, software emulation.
enum class Target { Hw, HwEmu, SwEmu };
std::string_view target_name(Target target) noexcept;  // "hw", "hw_emu", "sw_emu"
// From "hw" / "hw_emu" / "sw_emu"; anything else is an InvalidArgument error naming @p what.
Target parse_target(std::string_view name, const std::string& what);
// XRT's convention: XCL_EMULATION_MODE=hw_emu|sw_emu selects emulation, unset means hw.
Target target_from_environment();

struct ManifestKernel {
  std::string name;    // the OpenCL kernel, e.g. "gemm"
  std::string family;  // its file in fpga/kernels, e.g. "gemm" for gemm.cl
  int compute_units = 1;
  // Global argument -> its bank for every CU (one entry) or for each CU (compute_units entries).
  std::map<std::string, std::vector<std::string>> banks;
  // The bank of @p arg on CU @p cu (0-based); empty when the manifest does not place it.
  [[nodiscard]] std::string bank(const std::string& arg, int cu) const;
};

struct TransferPoints {
  double latency_us = 0;
  std::vector<std::pair<double, double>> gbps_by_bytes;  // (bytes, GB/s) as written
};

struct PerformanceModel {
  double clock_mhz = 0;
  int gemm_rows = 0, gemm_cols = 0, dsp_per_fp32_mac = 0, dsps = 0, vector_lanes = 0;
  double memory_gbps = 0, kernel_launch_us = 0, bitstream_load_ms = 0;
  std::string pcie_generation;
  TransferPoints host_to_card, card_to_host;
};

struct Manifest {
  std::string card;      // "u55c"
  std::string platform;  // "xilinx_u55c_gen3x16_xdma_3_202210_1"
  std::map<std::string, int> memory;  // bank kind -> count, e.g. {"HBM": 32}
  double target_clock_mhz = 0;
  std::map<Target, std::string> binaries;  // file names beside the manifest
  std::vector<ManifestKernel> kernels;
  PerformanceModel performance_model;
  std::map<std::string, std::string> source;  // figure -> where it comes from
};

// Parses and validates a manifest's text. Errors are Io errors of one line,
// "<where>: <JSON pointer>: <problem>", e.g. "bitstreams/u55c/manifest.json: /kernels/0/banks/a/0: ...".
Manifest parse_manifest(std::string_view json_text, const std::string& where);
// Reads @p file (errors name it).
Manifest load_manifest(const std::filesystem::path& file);
// <bitstream_dir>/<card>/manifest.json
std::filesystem::path manifest_path(const std::string& card, const std::filesystem::path& bitstream_dir);

// The manifest under @p bitstream_dir whose platform is @p platform, else the one whose card
// name appears in it as a word ("xilinx_u250_gen3x16_xdma_shell_4_1" -> u250); none: nullopt.
// Folders without a manifest are skipped; a malformed manifest is an error.
std::optional<std::filesystem::path> find_manifest_for_platform(const std::string& platform,
                                                                const std::filesystem::path& bitstream_dir);

// The binary for @p target named by the manifest at @p manifest_file. A target the manifest
// does not list, or a binary that is not built, is a Device error naming the expected file and
// the command that builds it.
std::filesystem::path binary_path(const Manifest& manifest, const std::filesystem::path& manifest_file, Target target);

// The JSON schema every manifest is checked against (bitstreams/manifest.schema.json).
std::string_view manifest_schema();

}  // namespace tandem::bitstream
