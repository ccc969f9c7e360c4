#pragma once
// XRT's native C++ API, included in one place. XRT 2.13's headers are written for C++17; they
// compile as C++20 but, under this project's -Wshadow, warn about their own constructor
// parameters shadowing members (`handle` in xrt_xclbin.h and detail/pimpl.h). CMake passes
// XRT::coreutil's include dir as a system dir, which hides that, but a build that puts XRT on
// the plain include path would not: the warnings are XRT's, so they are silenced here, for
// these includes only.

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#include <experimental/xrt_system.h>
#include <experimental/xrt_xclbin.h>
#include <xrt/xrt_bo.h>
#include <xrt/xrt_device.h>
#include <xrt/xrt_kernel.h>
#pragma GCC diagnostic pop
