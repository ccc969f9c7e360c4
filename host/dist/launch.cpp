#include <cerrno>
#include <cstdlib>
#include <string>

#include "dist/communicator.hpp"
#include "tandem/error.hpp"

namespace tandem::dist {
namespace {

// The integer in environment variable @p name, nullopt when it is unset.
std::optional<int> int_from_env(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 1'000'000)
    throw Error(std::string(name) + ": expected a non-negative integer from the MPI launcher, got '" + text + "'");
  return static_cast<int>(v);
}

std::optional<Launch> launch_from(const char* rank_var, const char* size_var) {
  const std::optional<int> size = int_from_env(size_var);
  if (!size) return std::nullopt;
  const int rank = int_from_env(rank_var).value_or(0);
  if (*size < 1 || rank >= *size)
    throw Error(std::string(rank_var) + ": rank " + std::to_string(rank) + " is outside [0, " + std::to_string(*size) +
                ") given by " + size_var);
  return Launch{rank, *size};
}

}  // namespace

std::optional<Launch> launch_from_environment() {
  if (std::optional<Launch> l = launch_from("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE")) return l;
  return launch_from("PMI_RANK", "PMI_SIZE");
}

}  // namespace tandem::dist
