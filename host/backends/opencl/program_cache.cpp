#include "backends/opencl/program_cache.hpp"

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <vector>

#include "backends/opencl/cl_status.hpp"
#include "bitstream/manifest.hpp"
#include "tandem/error.hpp"

namespace tandem::opencl {
namespace {

// FNV-1a over each part and its length: a cache key, not a security boundary.
std::string cache_key(std::initializer_list<std::string_view> parts) {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  };
  for (std::string_view p : parts) {
    mix(p);
    mix(std::to_string(p.size()));
  }
  std::ostringstream hex;
  hex << std::hex << h;
  return hex.str();
}

std::string build_log(const cl::Program& program, const DeviceInfo& device) {
  std::string log;
  program.getBuildInfo(device.device, CL_PROGRAM_BUILD_LOG, &log);
  return log;
}

}  // namespace

std::filesystem::path ProgramCache::default_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::filesystem::path(xdg) / "tandem" / "kernels";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::filesystem::path(home) / ".cache" / "tandem" / "kernels";
  return {};
}

cl::Program ProgramCache::build(const cl::Context& context, const DeviceInfo& device, const KernelSource& source,
                                const std::string& options) {
  std::filesystem::path cached;
  if (!dir_.empty()) {
    cached = dir_ / (source.family + "-" +
                     cache_key({source.text, device.platform, device.name, device.driver_version, options}) + ".bin");
    if (std::filesystem::exists(cached)) {
      cl::Program program = load_cached(context, device, cached);
      if (program() != nullptr && program.build({device.device}, options.c_str()) == CL_SUCCESS) {
        ++cache_hits_;
        return program;
      }
      // A stale or foreign binary is rebuilt from source and replaced.
    }
  }

  cl_int status = CL_SUCCESS;
  cl::Program program(context, source.text, false, &status);
  check(status, "clCreateProgramWithSource", source.origin);
  status = program.build({device.device}, options.c_str());
  if (status == CL_BUILD_PROGRAM_FAILURE || status == CL_INVALID_BUILD_OPTIONS)
    throw Error("opencl: " + source.origin + ": build failed on " + device.name + " (" +
                    std::string(status_name(status)) + "); compiler log:\n" + build_log(program, device),
                ErrorCategory::Device);
  check(status, "clBuildProgram", source.origin);
  ++source_builds_;
  if (!cached.empty()) store(program, cached);
  return program;
}

cl::Program ProgramCache::load_cached(const cl::Context& context, const DeviceInfo& device,
                                      const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.empty()) return {};
  cl_int status = CL_SUCCESS;
  cl::Program program(context, {device.device}, cl::Program::Binaries{bytes}, nullptr, &status);
  return status == CL_SUCCESS ? program : cl::Program();
}

void ProgramCache::store(const cl::Program& program, const std::filesystem::path& file) const {
  std::vector<std::vector<unsigned char>> binaries;
  if (program.getInfo(CL_PROGRAM_BINARIES, &binaries) != CL_SUCCESS || binaries.size() != 1 || binaries[0].empty())
    return;
  // The cache is an optimisation: a read-only or full disk must not fail the run, and a
  // concurrent writer must never expose a partial file, hence the rename.
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  const std::filesystem::path tmp = file.string() + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(reinterpret_cast<const char*>(binaries[0].data()), static_cast<std::streamsize>(binaries[0].size()));
    if (!out) {
      std::filesystem::remove(tmp, ec);
      return;
    }
  }
  std::filesystem::rename(tmp, file, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

std::filesystem::path fpga_binary(const DeviceInfo& device, const std::filesystem::path& bitstream_dir) {
  const std::optional<std::filesystem::path> manifest = bitstream::find_manifest_for_platform(device.name, bitstream_dir);
  if (!manifest)
    throw Error("opencl:" + std::to_string(device.index) + " (" + device.name +
                    ") is an FPGA platform and needs a prebuilt binary: no manifest under " + bitstream_dir.string() +
                    " names this platform or its card; add <card>/manifest.json there and build it with make -C fpga "
                    "CARD=<card> (docs/fpga.md)",
                ErrorCategory::Device);
  return bitstream::binary_path(bitstream::load_manifest(*manifest), *manifest, bitstream::target_from_environment());
}

}  // namespace tandem::opencl
