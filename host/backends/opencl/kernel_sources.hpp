#pragma once
// The OpenCL C sources of the FPGA kernels, one file per op family (fpga/kernels/<family>.cl).
// The library carries a copy made at build time, so an installed Tandem needs no source tree;
// a kernel directory given at run time (`--kernel-dir`) replaces it, so a kernel author can
// test an edited kernel without rebuilding Tandem.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::opencl {

struct KernelSource {
  std::string family;  // "gemm"
  std::string origin;  // the file it came from, for messages: "fpga/kernels/gemm.cl" or "DIR/gemm.cl"
  std::string text;
};

// The families built into the library, in build order.
std::vector<std::string> kernel_families();

// The source of @p family from @p dir (empty: the built-in copy). A missing file is an error
// naming the path.
KernelSource kernel_source(std::string_view family, const std::filesystem::path& dir = {});

}  // namespace tandem::opencl
