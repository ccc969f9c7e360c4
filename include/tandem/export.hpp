#pragma once
/// @file export.hpp
/// TANDEM_API marks what the shared library exports; everything else in it is hidden.

#if defined(_WIN32)
#define TANDEM_API
#elif defined(__GNUC__)
#define TANDEM_API __attribute__((visibility("default")))
#else
#define TANDEM_API
#endif
