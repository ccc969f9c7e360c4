#pragma once
// The table that cmake/EmbedKernels.cmake generates from fpga/kernels/*.cl.

#include <span>
#include <string_view>

namespace tandem::opencl {

struct EmbeddedKernel {
  std::string_view family;
  std::string_view text;
};

std::span<const EmbeddedKernel> embedded_kernels();

}  // namespace tandem::opencl
