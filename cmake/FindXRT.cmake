# FindXRT: Xilinx's runtime (the native xrt::device / xrt::kernel / xrt::bo API).
#
# XRT ships no CMake package config in Debian, and its xrt.pc there has a wrong prefix
# (/usr//usr), so this module looks for the files themselves, in two layouts:
#   Debian 12 (libxrt-dev):  /usr/include/xrt/xrt/xrt_device.h, libs in the multiarch dir
#   Xilinx's packages:       $XILINX_XRT (or /opt/xilinx/xrt)/include/xrt/xrt_device.h, lib/
# Both are used as `#include <xrt/xrt_device.h>` with the include dir below.
#
# Result: XRT_FOUND, XRT_VERSION, XRT_INCLUDE_DIR and the imported target XRT::coreutil
# (libxrt_coreutil, the native API; it needs libuuid for uuid strings).
include(FindPackageHandleStandardArgs)

set(_xrt_roots $ENV{XILINX_XRT} /opt/xilinx/xrt)
find_path(XRT_INCLUDE_DIR NAMES xrt/xrt_device.h
  HINTS ${_xrt_roots} PATH_SUFFIXES include include/xrt)
find_library(XRT_COREUTIL_LIBRARY NAMES xrt_coreutil HINTS ${_xrt_roots} PATH_SUFFIXES lib lib64)
find_library(XRT_UUID_LIBRARY NAMES uuid)

if(XRT_INCLUDE_DIR AND EXISTS "${XRT_INCLUDE_DIR}/version.h")
  file(STRINGS "${XRT_INCLUDE_DIR}/version.h" _xrt_version_line REGEX "xrt_build_version\\[\\] = ")
  string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" XRT_VERSION "${_xrt_version_line}")
endif()

find_package_handle_standard_args(XRT
  REQUIRED_VARS XRT_INCLUDE_DIR XRT_COREUTIL_LIBRARY XRT_UUID_LIBRARY
  VERSION_VAR XRT_VERSION)

if(XRT_FOUND AND NOT TARGET XRT::coreutil)
  add_library(XRT::coreutil UNKNOWN IMPORTED)
  set_target_properties(XRT::coreutil PROPERTIES
    IMPORTED_LOCATION "${XRT_COREUTIL_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${XRT_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${XRT_UUID_LIBRARY}")
endif()
mark_as_advanced(XRT_INCLUDE_DIR XRT_COREUTIL_LIBRARY XRT_UUID_LIBRARY)
