#pragma once
// Which devices hold a valid copy of each byte range of each tensor buffer, MSI-style: a
// read on a device adds a copy there, a write on a device leaves that device the only
// holder. Bytes never seen are valid on the host (device 0, the CPU) only, since every
// tensor is allocated in host memory. The record outlives a step: weights and optimizer
// moments written on a device in step k are still found there when step k+1 is planned.
// The executor does not move data yet (OpenCL buffers wrap host memory); the policies use
// this record to charge transfers and to keep state where it lives.

#include <cstddef>
#include <cstdint>
#include <map>

#include "graph/task_graph.hpp"

namespace tandem::sched {

// Bit d set: device d holds a valid copy. At most 32 devices.
using DeviceMask = std::uint32_t;
inline constexpr DeviceMask device_bit(int device) noexcept { return DeviceMask{1} << device; }

class Residency {
 public:
  // Devices holding a valid copy of every byte of @p r.
  [[nodiscard]] DeviceMask holders(const graph::Region& r) const;
  // True when every byte of @p r has been read or written on some device since clear().
  [[nodiscard]] bool known(const graph::Region& r) const;
  // Bytes of @p r that @p device lacks a valid copy of.
  [[nodiscard]] std::size_t missing_bytes(const graph::Region& r, int device) const;
  // @p device now holds a copy of @p r too (it was read there).
  void add_copy(const graph::Region& r, int device);
  // @p device wrote @p r: every other copy is invalid.
  void write(const graph::Region& r, int device);
  void clear() noexcept { buffers_.clear(); }

 private:
  struct Span {
    std::size_t end;
    DeviceMask mask;
  };
  using Spans = std::map<std::size_t, Span>;  // begin -> [begin, end) and its holders; disjoint

  // Splits the spans of @p spans so that [begin, end) is covered exactly by whole spans,
  // filling gaps with host-only spans. Returns the first span at @p begin.
  static Spans::iterator cover(Spans& spans, std::size_t begin, std::size_t end);

  std::map<const void*, Spans> buffers_;
};

}  // namespace tandem::sched
