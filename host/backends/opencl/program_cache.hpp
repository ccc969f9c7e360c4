#pragma once
// Building OpenCL programs. On CPU and GPU platforms a program is compiled from source and
// its binary kept on disk, keyed by a hash of the source, the device, the driver version and
// the build options, so the next run with the same kernels builds nothing. On FPGA platforms
// nothing can be compiled at run time: the binary comes from the card's manifest,
// bitstreams/<card>/manifest.json (host/bitstream/manifest.hpp).

#include <filesystem>
#include <string>

#include "backends/opencl/cl.hpp"
#include "backends/opencl/devices.hpp"
#include "backends/opencl/kernel_sources.hpp"

namespace tandem::opencl {

class ProgramCache {
 public:
  // Binaries are kept under @p dir; an empty path turns the disk cache off.
  explicit ProgramCache(std::filesystem::path dir) : dir_(std::move(dir)) {}
  // $XDG_CACHE_HOME/tandem/kernels, else $HOME/.cache/tandem/kernels, else none.
  static std::filesystem::path default_dir();

  // The built program for @p source. A compile error is a Device error whose first line names
  // the kernel file and device, followed by the compiler's full log.
  cl::Program build(const cl::Context& context, const DeviceInfo& device, const KernelSource& source,
                    const std::string& options);

  // How many programs were compiled from source and how many were loaded from disk.
  [[nodiscard]] int source_builds() const { return source_builds_; }
  [[nodiscard]] int cache_hits() const { return cache_hits_; }

 private:
  cl::Program load_cached(const cl::Context& context, const DeviceInfo& device, const std::filesystem::path& file);
  void store(const cl::Program& program, const std::filesystem::path& file) const;

  std::filesystem::path dir_;
  int source_builds_ = 0;
  int cache_hits_ = 0;
};

// The FPGA binary for @p device: the manifest under @p bitstream_dir whose platform is the
// device's name (or whose card, e.g. u250, is a word of it), and its binary for the build target
// XCL_EMULATION_MODE selects (hw when unset). No manifest, or a binary not built, is a Device
// error naming what was expected and the command that builds it; a malformed manifest is an
// Io error naming the file and the JSON pointer.
std::filesystem::path fpga_binary(const DeviceInfo& device, const std::filesystem::path& bitstream_dir);

}  // namespace tandem::opencl
