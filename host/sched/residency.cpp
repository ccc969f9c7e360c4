#include "sched/residency.hpp"

#include <algorithm>

namespace tandem::sched {

namespace {

constexpr DeviceMask kHost = device_bit(0);

}  // namespace

Residency::Spans::iterator Residency::cover(Spans& spans, std::size_t begin, std::size_t end) {
  // Split a span straddling begin or end into two with the same holders.
  for (std::size_t cut : {begin, end}) {
    auto it = spans.upper_bound(cut);
    if (it == spans.begin()) continue;
    --it;
    if (it->first < cut && cut < it->second.end) {
      spans[cut] = Span{it->second.end, it->second.mask};
      it->second.end = cut;
    }
  }
  // Fill the gaps inside [begin, end) with never-seen (host-only) spans.
  std::size_t pos = begin;
  for (auto it = spans.lower_bound(begin); it != spans.end() && it->first < end; ++it) {
    if (it->first > pos) spans[pos] = Span{it->first, kHost};
    pos = it->second.end;
  }
  if (pos < end) spans[pos] = Span{end, kHost};
  return spans.find(begin);
}

DeviceMask Residency::holders(const graph::Region& r) const {
  DeviceMask mask = ~DeviceMask{0};
  std::size_t pos = r.begin;
  auto found = buffers_.find(r.storage);
  if (found != buffers_.end()) {
    const Spans& spans = found->second;
    auto it = spans.upper_bound(r.begin);
    if (it != spans.begin()) --it;
    for (; it != spans.end() && it->first < r.end; ++it) {
      if (it->second.end <= r.begin) continue;
      if (it->first > pos) mask &= kHost;  // a gap: never seen
      mask &= it->second.mask;
      pos = it->second.end;
    }
  }
  if (pos < r.end) mask &= kHost;
  return mask;
}

bool Residency::known(const graph::Region& r) const {
  auto found = buffers_.find(r.storage);
  if (found == buffers_.end()) return r.begin >= r.end;
  const Spans& spans = found->second;
  std::size_t pos = r.begin;
  auto it = spans.upper_bound(r.begin);
  if (it != spans.begin()) --it;
  for (; it != spans.end() && it->first < r.end; ++it) {
    if (it->second.end <= r.begin) continue;
    if (it->first > pos) return false;
    pos = it->second.end;
  }
  return pos >= r.end;
}

std::size_t Residency::missing_bytes(const graph::Region& r, int device) const {
  const DeviceMask bit = device_bit(device);
  std::size_t missing = 0, pos = r.begin;
  auto found = buffers_.find(r.storage);
  if (found != buffers_.end()) {
    const Spans& spans = found->second;
    auto it = spans.upper_bound(r.begin);
    if (it != spans.begin()) --it;
    for (; it != spans.end() && it->first < r.end; ++it) {
      if (it->second.end <= r.begin) continue;
      const std::size_t lo = std::max(it->first, r.begin), hi = std::min(it->second.end, r.end);
      if (lo > pos && !(kHost & bit)) missing += lo - pos;
      if (!(it->second.mask & bit)) missing += hi - lo;
      pos = hi;
    }
  }
  if (pos < r.end && !(kHost & bit)) missing += r.end - pos;
  return missing;
}

void Residency::add_copy(const graph::Region& r, int device) {
  if (r.begin >= r.end) return;
  Spans& spans = buffers_[r.storage];
  for (auto it = cover(spans, r.begin, r.end); it != spans.end() && it->first < r.end; ++it)
    it->second.mask |= device_bit(device);
}

void Residency::write(const graph::Region& r, int device) {
  if (r.begin >= r.end) return;
  Spans& spans = buffers_[r.storage];
  auto it = cover(spans, r.begin, r.end);
  // One span replaces the pieces: the whole range now lives on the writer only.
  while (it != spans.end() && it->first < r.end) it = spans.erase(it);
  spans[r.begin] = Span{r.end, device_bit(device)};
}

}  // namespace tandem::sched
