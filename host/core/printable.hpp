#pragma once
// Text taken from an input file, made safe for a one-line error message.

#include <string>
#include <string_view>

namespace tandem {

// @p text with control characters (and DEL) written as \xNN, so a message quoting it stays on
// one line.
[[nodiscard]] std::string printable(std::string_view text);

}  // namespace tandem
