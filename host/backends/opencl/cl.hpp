#pragma once
// The one place the OpenCL C++ bindings are included, so every file sees the same
// configuration: OpenCL 1.2 API (what Xilinx's and Intel's FPGA runtimes offer), status
// codes returned rather than thrown (cl_status.hpp turns them into tandem::Error).

#define CL_HPP_TARGET_OPENCL_VERSION 120
#define CL_HPP_MINIMUM_OPENCL_VERSION 120
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif
#include <CL/opencl.hpp>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
