#include "tandem/tandem.hpp"

namespace tandem {
inline namespace v1 {

// TANDEM_VERSION comes from project(VERSION) in the top CMakeLists.txt.
const char* version() noexcept { return TANDEM_VERSION; }

}  // namespace v1
}  // namespace tandem
