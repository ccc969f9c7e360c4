#pragma once
// OpenCL status codes as tandem::Error: "opencl: clEnqueueNDRangeKernel(gemm_nn):
// CL_OUT_OF_RESOURCES (-5)".

#include <string>
#include <string_view>

#include "backends/opencl/cl.hpp"

namespace tandem::opencl {

// The name of an OpenCL status code, e.g. "CL_INVALID_VALUE", or "unknown status".
std::string_view status_name(cl_int status);

// Throws a Device error naming @p call, the kernel or object it acted on (if any) and the
// status, unless @p status is CL_SUCCESS.
void check(cl_int status, std::string_view call, std::string_view subject = {});

}  // namespace tandem::opencl
