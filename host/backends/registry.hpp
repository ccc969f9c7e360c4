#pragma once
// Opening a backend by its device spec, as the command line and the API name them:
// "cpu", "reference", "opencl" (= opencl:0), "opencl:N", "xrt" (= xrt:0) or "xrt:N" (see
// `tandem devices`).

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ops/op_kernels.hpp"

namespace tandem {

struct BackendOptions {
  // OpenCL: a directory of edited <family>.cl files replacing the built-in kernels.
  std::filesystem::path kernel_dir;
  // XRT: the .xclbin to load; empty: $TANDEM_XCLBIN.
  std::filesystem::path xclbin;
};

// A new backend for @p spec. An unknown or malformed spec, or an OpenCL spec in a build
// without the OpenCL backend, is an error naming the spec; an XRT spec in a build without
// XRT, or naming a card that is not there, is a Device error saying why.
std::unique_ptr<OpKernels> open_backend(std::string_view spec, const BackendOptions& options = {});

// "cpu, opencl:0" -> {"cpu", "opencl:0"}: comma-separated specs, spaces trimmed; an empty
// item is an error quoting the list (specs themselves are checked when opened).
std::vector<std::string> split_device_list(std::string_view list);

}  // namespace tandem
