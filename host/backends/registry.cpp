#include "backends/registry.hpp"

#include <string>

#include "backends/cpu/cpu_kernels.hpp"
#include "ops/reference_kernels.hpp"
#include "tandem/error.hpp"
#if TANDEM_HAVE_OPENCL
#include "backends/opencl/opencl_kernels.hpp"
#endif

namespace tandem {
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
  throw Error("device '" + std::string(spec) + "': expected cpu, reference, opencl or opencl:N");
}

}  // namespace tandem
