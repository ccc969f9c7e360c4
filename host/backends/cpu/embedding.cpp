#include <Eigen/Core>

#include <algorithm>
#include <numeric>
#include <vector>

#include "backends/cpu/cpu_kernels.hpp"
#include "backends/cpu/parallel.hpp"

namespace tandem {

namespace {
using Vec = Eigen::Map<Eigen::ArrayXf>;
using ConstVec = Eigen::Map<const Eigen::ArrayXf>;
}  // namespace

void CpuKernels::do_embedding(const Tensor& ids, const Tensor& wte, const Tensor& wpe, Tensor& out) {
  const std::int32_t* id = ids.data<std::int32_t>();
  const float* pte = wte.data<float>();
  const float* ppe = wpe.defined() ? wpe.data<float>() : nullptr;
  float* po = out.data<float>();
  const std::int64_t T = ids.dim(1), C = wte.dim(1);
  cpu::parallel_for(ids.numel(), cpu::row_grain(C), [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) {
      ConstVec tok(pte + std::int64_t{id[i]} * C, C);
      if (ppe)
        Vec(po + i * C, C) = tok + ConstVec(ppe + (i % T) * C, C);
      else
        Vec(po + i * C, C) = tok;
    }
  });
}

// Scatter-add without races and in a fixed order: the token positions are sorted by id
// (positions ascending within an id), and each task owns whole rows of dwte, summing a
// row's tokens in position order. dwpe rows are likewise owned by one task each, summing
// over b in order. The sums run in double from the current gradient value and are rounded
// once, so a frequent id (thousands of tokens) loses nothing, and the result does not
// depend on the chunking or the thread count.
void CpuKernels::do_embedding_backward(const Tensor& ids, const Tensor& dout, Tensor& dwte, Tensor& dwpe) {
  const std::int32_t* id = ids.data<std::int32_t>();
  const float* g = dout.data<float>();
  float* pte = dwte.data<float>();
  const std::int64_t n = ids.numel(), B = ids.dim(0), T = ids.dim(1), C = dwte.dim(1);

  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::stable_sort(order.begin(), order.end(), [id](std::int64_t a, std::int64_t b) { return id[a] < id[b]; });
  std::vector<std::int64_t> start;  // group k is order[start[k] .. start[k+1])
  for (std::int64_t i = 0; i < n; ++i)
    if (i == 0 || id[order[std::size_t(i)]] != id[order[std::size_t(i - 1)]]) start.push_back(i);
  const auto groups = static_cast<std::int64_t>(start.size());
  start.push_back(n);

  const std::int64_t* ord = order.data();
  const std::int64_t* st = start.data();
  // About kElementGrain gradient elements a task on average.
  const std::int64_t grain = std::max<std::int64_t>(1, cpu::kElementGrain * groups / (n * C));
  cpu::parallel_for(groups, grain, [=](std::int64_t k0, std::int64_t k1) {
    std::vector<double> acc(static_cast<std::size_t>(C));
    double* a = acc.data();
    for (std::int64_t k = k0; k < k1; ++k) {
      float* row = pte + std::int64_t{id[ord[st[k]]]} * C;
      for (std::int64_t c = 0; c < C; ++c) a[c] = double(row[c]);
      for (std::int64_t i = st[k]; i < st[k + 1]; ++i) {
        const float* src = g + ord[i] * C;
        for (std::int64_t c = 0; c < C; ++c) a[c] += double(src[c]);
      }
      for (std::int64_t c = 0; c < C; ++c) row[c] = static_cast<float>(a[c]);
    }
  });

  if (!dwpe.defined()) return;
  float* ppe = dwpe.data<float>();
  cpu::parallel_for(T, std::max<std::int64_t>(1, cpu::kElementGrain / (B * C)), [=](std::int64_t t0, std::int64_t t1) {
    std::vector<double> acc(static_cast<std::size_t>(C));
    double* a = acc.data();
    for (std::int64_t t = t0; t < t1; ++t) {
      float* row = ppe + t * C;
      for (std::int64_t c = 0; c < C; ++c) a[c] = double(row[c]);
      for (std::int64_t b = 0; b < B; ++b) {
        const float* src = g + (b * T + t) * C;
        for (std::int64_t c = 0; c < C; ++c) a[c] += double(src[c]);
      }
      for (std::int64_t c = 0; c < C; ++c) row[c] = static_cast<float>(a[c]);
    }
  });
}

}  // namespace tandem
