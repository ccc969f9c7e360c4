#pragma once
// The OpenCL backend: the FPGA kernels of fpga/kernels run on any OpenCL device — PoCL on
// the CPU for emulation, Xilinx and Intel FPGA platforms from prebuilt binaries. The ops are
// shared with the XRT backend (host/backends/device); this file adds how an OpenCL device
// carries out their launches.
//
// Memory: every tensor argument becomes a buffer over the tensor's own host memory
// (CL_MEM_USE_HOST_PTR: zero-copy on CPU devices, a DMA source on cards). Inputs are migrated
// to the device with asynchronous copies, kernels run in order on one queue, and outputs are
// mapped back once at the end of the op — the only wait. Keeping tensors resident on the device
// across ops is the scheduler's job (host/sched).

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "backends/device/device_kernels.hpp"
#include "backends/opencl/cl.hpp"
#include "backends/opencl/devices.hpp"
#include "backends/opencl/program_cache.hpp"

namespace tandem::opencl {

struct OpenclOptions {
  std::string device = "opencl";           // "opencl" or "opencl:N"
  std::filesystem::path kernel_dir;        // empty: the kernels built into the library
  std::filesystem::path cache_dir = ProgramCache::default_dir();  // empty: no disk cache
  std::filesystem::path bitstream_dir = "bitstreams";  // FPGA platforms: <dir>/<card>/manifest.json
};

class OpenclKernels final : public device::DeviceKernels {
 public:
  explicit OpenclKernels(const OpenclOptions& options = {});
  ~OpenclKernels() override;

  // "opencl:N"
  [[nodiscard]] std::string_view name() const override { return name_; }
  [[nodiscard]] const DeviceInfo& device() const { return device_; }
  [[nodiscard]] const ProgramCache& programs() const { return cache_; }
  [[nodiscard]] std::uint32_t compute_units() const override { return device_.compute_units; }
  [[nodiscard]] bool is_fpga() const override { return device_.fpga; }
  // Builds the program of @p family now rather than at its first launch, so a compile error
  // surfaces here (the kernel author's tool does this for every family).
  void build(std::string_view family);

 protected:
  std::unique_ptr<device::Launch> begin_launch() override;

 private:
  friend class OpenclLaunch;
  cl::Kernel& kernel(std::string_view family, std::string_view name);
  cl::Program& program(std::string_view family);

  OpenclOptions options_;
  DeviceInfo device_;
  std::string name_;
  cl::Context context_;
  cl::CommandQueue queue_;
  ProgramCache cache_;
  std::map<std::string, cl::Program, std::less<>> programs_;
  std::map<std::string, cl::Kernel, std::less<>> kernels_;
  cl::Buffer dummy_;  // bound where a kernel's optional tensor argument is absent
};

}  // namespace tandem::opencl
