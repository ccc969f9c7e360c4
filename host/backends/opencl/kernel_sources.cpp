#include "backends/opencl/kernel_sources.hpp"

#include <fstream>
#include <sstream>

#include "backends/opencl/embedded_kernels.hpp"
#include "tandem/error.hpp"

namespace tandem::opencl {

std::vector<std::string> kernel_families() {
  std::vector<std::string> out;
  for (const EmbeddedKernel& k : embedded_kernels()) out.emplace_back(k.family);
  return out;
}

KernelSource kernel_source(std::string_view family, const std::filesystem::path& dir) {
  if (dir.empty()) {
    for (const EmbeddedKernel& k : embedded_kernels())
      if (k.family == family) return {std::string(family), "fpga/kernels/" + std::string(family) + ".cl", std::string(k.text)};
    throw Error("opencl: no built-in kernel family '" + std::string(family) + "'", ErrorCategory::Internal);
  }
  const std::filesystem::path path = dir / (std::string(family) + ".cl");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot read kernel source", ErrorCategory::Io);
  std::ostringstream text;
  text << in.rdbuf();
  return {std::string(family), path.string(), text.str()};
}

}  // namespace tandem::opencl
