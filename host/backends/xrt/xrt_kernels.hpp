#pragma once
// The native XRT backend: the FPGA kernels of fpga/kernels, built by v++ into an .xclbin, run
// on a Xilinx card through xrt::device / xrt::kernel / xrt::run / xrt::bo. The ops are the
// ones the OpenCL backend runs (host/backends/device); this file adds how a launch is carried
// out on XRT. XRT's own headers stay in xrt_kernels.cpp, so including this needs no XRT.
//
// Memory: each tensor argument becomes an xrt::bo in the memory bank its kernel argument is
// wired to (the kernel's group_id for that argument). Page-aligned tensor memory is used in
// place (a user-pointer bo); other memory goes through a staging bo. Inputs are synced to the
// card before the first kernel that reads them, outputs synced back once at the end of the op.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "backends/device/device_kernels.hpp"
#include "backends/xrt/devices.hpp"

namespace tandem::xrt {

struct XrtOptions {
  std::string device = "xrt";    // "xrt" or "xrt:N"
  std::filesystem::path xclbin;  // empty: $TANDEM_XCLBIN, else the card's manifest
  std::filesystem::path bitstream_dir = "bitstreams";  // <dir>/<card>/manifest.json
};

// The xclbin a backend loads: @p options.xclbin, else $TANDEM_XCLBIN, else the binary that
// the manifest under options.bitstream_dir for the card's shell names for the build target
// of $XCL_EMULATION_MODE (hw when unset). None of these is a Device error saying so.
std::filesystem::path resolve_xclbin(const XrtOptions& options, const DeviceInfo& device);

class XrtKernels final : public device::DeviceKernels {
 public:
  // Opens the card and loads the xclbin; a missing card is a Device error saying why.
  explicit XrtKernels(const XrtOptions& options = {});
  ~XrtKernels() override;

  // "xrt:N"
  [[nodiscard]] std::string_view name() const override { return name_; }
  [[nodiscard]] const DeviceInfo& device() const { return device_; }
  [[nodiscard]] const std::filesystem::path& xclbin() const { return xclbin_; }
  // The fewest compute units any kernel of the xclbin has: every launch can use that many.
  [[nodiscard]] std::uint32_t compute_units() const override { return compute_units_; }
  [[nodiscard]] bool is_fpga() const override { return true; }

 protected:
  std::unique_ptr<device::Launch> begin_launch() override;

 private:
  friend class XrtLaunch;
  struct Runtime;  // XRT's handles

  DeviceInfo device_;
  std::string name_;
  std::filesystem::path xclbin_;
  std::unique_ptr<Runtime> runtime_;
  std::uint32_t compute_units_ = 1;
};

}  // namespace tandem::xrt
