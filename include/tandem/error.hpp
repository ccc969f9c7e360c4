#pragma once
/// @file error.hpp
/// The one exception type Tandem throws.

#include <stdexcept>
#include <string>
#include <utility>

#include "tandem/export.hpp"

namespace tandem {
inline namespace v1 {

/// What kind of failure an Error reports, so callers can react without parsing text.
enum class ErrorCategory {
  InvalidArgument,  ///< A caller passed a bad shape, value or option.
  Io,               ///< A file could not be read or written, or is malformed.
  Device,           ///< A device failed or is missing.
  Internal,         ///< A broken invariant inside Tandem (a bug).
};

/// Every failure Tandem reports is a tandem::Error whose message is one line naming
/// the operation or file and the problem, e.g. "matmul: inner dimensions differ: ...".
class TANDEM_API Error : public std::runtime_error {
 public:
  /// Creates an error of the given category with a one-line message.
  explicit Error(std::string message, ErrorCategory category = ErrorCategory::InvalidArgument)
      : std::runtime_error(std::move(message)), category_(category) {}

  /// The category given at construction.
  [[nodiscard]] ErrorCategory category() const noexcept { return category_; }

 private:
  ErrorCategory category_;
};

}  // namespace v1
}  // namespace tandem
