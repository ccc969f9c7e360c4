#pragma once
// Fault injection for tests and for checking a deployment's recovery paths: the N-th device
// kernel launch, host<->device transfer or device allocation of the process fails with a
// tandem::Error (category Device), as a failing card would; the N-th whole-file write
// (io::write_file_atomically, just before its rename) fails with category Io, as a full disk
// would.
//
// Schedules come from the environment, read once at the first check:
//   TANDEM_FAULT_LAUNCH, TANDEM_FAULT_TRANSFER, TANDEM_FAULT_ALLOC, TANDEM_FAULT_FILE_WRITE
//     = "N" | "N,M,..." | "N+"
// ("N+" fails every event from the N-th on; events count from 1 across all devices), or from
// set_schedule() in tests. Unset, a check costs one relaxed atomic increment.

#include <cstdint>
#include <string_view>

namespace tandem::faults {

enum class Point { Launch, Transfer, Allocation, FileWrite };

// Counts one event of @p point and throws when the schedule says this one fails; @p what
// names the device and the kernel or buffer (the file, for FileWrite) for the message.
void check(Point point, std::string_view what);

// Replaces the schedule of @p point (same syntax as the environment; "" = never) and restarts
// its count. A malformed schedule is an error naming it.
void set_schedule(Point point, std::string_view schedule);

// Events of @p point counted so far.
[[nodiscard]] std::int64_t count(Point point);

}  // namespace tandem::faults
