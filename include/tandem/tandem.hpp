#pragma once
/// @file tandem.hpp
/// The whole C++ API of Tandem. Every failure is reported as a tandem::Error.

#include "tandem/device.hpp"
#include "tandem/error.hpp"
#include "tandem/export.hpp"
#include "tandem/model.hpp"
#include "tandem/ops.hpp"
#include "tandem/scheduler.hpp"
#include "tandem/tensor.hpp"
#include "tandem/trainer.hpp"

namespace tandem {
inline namespace v1 {

/// The library's version, "MAJOR.MINOR.PATCH".
[[nodiscard]] TANDEM_API const char* version() noexcept;

}  // namespace v1
}  // namespace tandem
