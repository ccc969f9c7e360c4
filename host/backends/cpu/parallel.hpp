#pragma once
// How the CPU backend splits work over oneTBB. Chunks are fixed by the problem size, never
// by the number of threads or by work stealing, so every reduction adds its partial sums
// in the same order and results are bitwise identical from run to run.

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/tsan.hpp"

namespace tandem::cpu {

// Calls body(begin, end) over [0, n) in chunks of at least @p grain items, in parallel.
template <class Body> void parallel_for(std::int64_t n, std::int64_t grain, Body&& body) {
  if (n <= 0) return;
  grain = std::max<std::int64_t>(grain, 1);
  if (n <= grain) {
    body(std::int64_t{0}, n);
    return;
  }
  tsan::release(&tsan::kHandOff);  // core/tsan.hpp: chunks may run on another thread
  tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, n, grain),
                    [&](const tbb::blocked_range<std::int64_t>& r) {
                      tsan::acquire(&tsan::kHandOff);
                      body(r.begin(), r.end());
                      tsan::release(&tsan::kTaskDone);
                    },
                    tbb::simple_partitioner());
  tsan::acquire(&tsan::kTaskDone);
}

// Grain for element-wise loops: big enough that a task amortises its scheduling cost.
inline constexpr std::int64_t kElementGrain = 1 << 15;

// Grain in rows for row-wise ops of width @p cols (about kElementGrain elements a task).
inline std::int64_t row_grain(std::int64_t cols) { return std::max<std::int64_t>(1, kElementGrain / std::max<std::int64_t>(cols, 1)); }

// Adds per-block column partial sums into a float vector, in block order so the result
// does not depend on the thread count: dst[c] = dst[c] + partial[0][c] + partial[1][c] + ...
// partials is (blocks, C) row-major; the channels are split across tasks.
inline void add_block_partials(const double* partials, std::int64_t blocks, std::int64_t C, float* dst) {
  parallel_for(C, std::max<std::int64_t>(64, kElementGrain / std::max<std::int64_t>(blocks, 1)),
               [=](std::int64_t c0, std::int64_t c1) {
                 const std::int64_t width = c1 - c0;
                 std::vector<double> acc(static_cast<std::size_t>(width));
                 double* a = acc.data();
                 for (std::int64_t c = 0; c < width; ++c) a[c] = double(dst[c0 + c]);
                 for (std::int64_t blk = 0; blk < blocks; ++blk) {
                   const double* src = partials + blk * C + c0;
                   for (std::int64_t c = 0; c < width; ++c) a[c] += src[c];
                 }
                 for (std::int64_t c = 0; c < width; ++c) dst[c0 + c] = static_cast<float>(a[c]);
               });
}

}  // namespace tandem::cpu
