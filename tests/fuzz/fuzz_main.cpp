// The libFuzzer entry point of one fuzz program; TANDEM_FUZZ_BODY names its body in
// fuzz_targets.hpp (set per program by CMakeLists.txt).

#include <cstddef>
#include <cstdint>

#include "fuzz_targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tandem::fuzz::TANDEM_FUZZ_BODY(tandem::fuzz::Bytes(data, size));
  return 0;
}
