// `tandem xclbin info FILE [--json]`.
#include "commands.hpp"

namespace tandem::cli {

void add_xclbin_command(CLI::App& app) { (void)app; }

}  // namespace tandem::cli
