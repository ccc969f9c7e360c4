#include "backends/registry.hpp"

#include <algorithm>
#include <string>

#include "backends/cpu/cpu_kernels.hpp"
#include "ops/reference_kernels.hpp"
#include "tandem/error.hpp"
#if TANDEM_HAVE_OPENCL
#include "backends/opencl/opencl_kernels.hpp"
#endif
#if TANDEM_HAVE_XRT
#include "backends/xrt/xrt_kernels.hpp"
#endif

namespace tandem {
namespace {

std::unique_ptr<OpKernels> open_xrt(std::string_view spec, const BackendOptions& options) {
#if TANDEM_HAVE_XRT
  xrt::parse_device_spec(spec);  // a malformed spec is the caller's error, whatever the machine has
  xrt::XrtOptions o;
  o.device = std::string(spec);
  o.xclbin = options.xclbin;
  return std::make_unique<xrt::XrtKernels>(o);
#else
  (void)options;
  throw Error(std::string(spec) + ": this build has no XRT backend (install libxrt-dev and rebuild)",
              ErrorCategory::Device);
#endif
}

}  // namespace

std::unique_ptr<OpKernels> open_backend(std::string_view spec, const BackendOptions& options) {
  const bool opencl_spec = spec == "opencl" || spec.starts_with("opencl:");
  if (!options.kernel_dir.empty() && !opencl_spec)
    throw Error("--kernel-dir: device '" + std::string(spec) + "' runs no OpenCL kernels");
  if (spec == "cpu") return std::make_unique<CpuKernels>();
  if (spec == "reference") return std::make_unique<ReferenceKernels>();
  if (opencl_spec) {
#if TANDEM_HAVE_OPENCL
    opencl::OpenclOptions o;
    o.device = std::string(spec);
    o.kernel_dir = options.kernel_dir;
    return std::make_unique<opencl::OpenclKernels>(o);
#else
    throw Error("device '" + std::string(spec) + "': this Tandem was built without the OpenCL backend");
#endif
  }
  if (spec == "xrt" || spec.starts_with("xrt:")) return open_xrt(spec, options);
  throw Error("device '" + std::string(spec) + "': expected cpu, reference, opencl, opencl:N, xrt or xrt:N");
}

std::vector<std::string> split_device_list(std::string_view list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    std::string_view item = list.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) throw Error("--devices: empty device spec in '" + std::string(list) + "'");
    out.emplace_back(item);
    start = comma + 1;
  }
  return out;
}

}  // namespace tandem
