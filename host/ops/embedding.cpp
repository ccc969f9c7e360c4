#include "ops/embedding.hpp"

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

namespace {

// Every id lies in [0, V); otherwise names the first bad id and its [b, t] position.
void check_ids(std::string_view op, const Tensor& ids, std::int64_t V) {
  const std::int32_t* p = ids.data<std::int32_t>();
  const std::int64_t T = ids.dim(1);
  for (std::int64_t i = 0, n = ids.numel(); i < n; ++i) {
    if (p[i] < 0 || p[i] >= V)
      check::that(false, op,
                  "ids " + ids.shape().str() + " holds " + std::to_string(p[i]) + " at [" + std::to_string(i / T) +
                      ", " + std::to_string(i % T) + "], outside the vocabulary [0, " + std::to_string(V) + ")");
  }
}

// wpe (P, C) with P >= T, when defined.
void check_positions(std::string_view op, std::string_view arg, const Tensor& wpe, const Tensor& ids,
                     std::int64_t C) {
  if (!wpe.defined()) return;
  check::input(op, arg, wpe);
  check::rank(op, arg, wpe, 2);
  check::that(wpe.dim(1) == C, op,
              std::string(arg) + " " + wpe.shape().str() + " has " + std::to_string(wpe.dim(1)) +
                  " channels, expected C = " + std::to_string(C));
  check::that(wpe.dim(0) >= ids.dim(1), op,
              std::string(arg) + " " + wpe.shape().str() + " has " + std::to_string(wpe.dim(0)) +
                  " positions, fewer than the sequence length T = " + std::to_string(ids.dim(1)) + " of ids " +
                  ids.shape().str());
}

}  // namespace

void validate_embedding(const Tensor& ids, const Tensor& wte, const Tensor& wpe, const Tensor& out) {
  constexpr std::string_view op = "embedding";
  check::input(op, "ids", ids, DType::I32);
  check::rank(op, "ids", ids, 2);
  check::input(op, "wte", wte);
  check::rank(op, "wte", wte, 2);
  const std::int64_t C = wte.dim(1);
  check_positions(op, "wpe", wpe, ids, C);
  check::shaped(op, "out", out, Shape{ids.dim(0), ids.dim(1), C});
  check_ids(op, ids, wte.dim(0));
}

void validate_embedding_backward(const Tensor& ids, const Tensor& dout, const Tensor& dwte, const Tensor& dwpe) {
  constexpr std::string_view op = "embedding_backward";
  check::input(op, "ids", ids, DType::I32);
  check::rank(op, "ids", ids, 2);
  check::input(op, "dwte", dwte);
  check::rank(op, "dwte", dwte, 2);
  const std::int64_t C = dwte.dim(1);
  check::shaped(op, "dout", dout, Shape{ids.dim(0), ids.dim(1), C});
  check_positions(op, "dwpe", dwpe, ids, C);
  check_ids(op, ids, dwte.dim(0));
}

OpCost embedding_cost(const Shape& ids, std::int64_t C, bool with_pos) {
  const auto n = static_cast<double>(ids.numel());
  const auto c = static_cast<double>(C);
  const auto t = static_cast<double>(ids.rank() == 2 ? ids[1] : ids.numel());
  // read ids, the gathered wte rows, wpe rows [0, T) once; write out
  return {with_pos ? n * c : 0.0, 4 * (n + n * c + (with_pos ? t * c : 0.0) + n * c)};
}

OpCost embedding_backward_cost(const Shape& ids, std::int64_t C, bool with_pos) {
  const auto n = static_cast<double>(ids.numel());
  const auto c = static_cast<double>(C);
  const auto t = static_cast<double>(ids.rank() == 2 ? ids[1] : ids.numel());
  // read ids and dout; read+write one dwte row per token (an upper bound: repeated ids
  // share rows) and dwpe rows [0, T)
  return {(with_pos ? 2.0 : 1.0) * n * c, 4 * (n + n * c + 2 * n * c + (with_pos ? 2 * t * c : 0.0))};
}

}  // namespace tandem::op

namespace tandem::ref {

template <class T>
void embedding(const std::int32_t* ids, const T* wte, const T* wpe, T* out, std::int64_t B, std::int64_t seq,
               std::int64_t C) {
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 0; t < seq; ++t) {
      const std::int64_t i = b * seq + t;
      const T* tok = wte + std::int64_t{ids[i]} * C;
      for (std::int64_t c = 0; c < C; ++c) {
        const double pos = wpe ? double(wpe[t * C + c]) : 0.0;
        out[i * C + c] = static_cast<T>(double(tok[c]) + pos);
      }
    }
}

template <class T>
void embedding_backward(const std::int32_t* ids, const T* dout, T* dwte, T* dwpe, std::int64_t B, std::int64_t seq,
                        std::int64_t C) {
  const std::int64_t n = B * seq;
  // Token positions grouped by id (in position order within a group), so each touched
  // row of dwte is summed once in double.
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return ids[a] < ids[b]; });
  for (std::size_t i = 0; i < order.size();) {
    const std::int32_t v = ids[order[i]];
    std::size_t j = i;
    while (j < order.size() && ids[order[j]] == v) ++j;
    for (std::int64_t c = 0; c < C; ++c) {
      double s = double(dwte[std::int64_t{v} * C + c]);
      for (std::size_t k = i; k < j; ++k) s += double(dout[order[k] * C + c]);
      dwte[std::int64_t{v} * C + c] = static_cast<T>(s);
    }
    i = j;
  }
  if (dwpe) {
    for (std::int64_t t = 0; t < seq; ++t)
      for (std::int64_t c = 0; c < C; ++c) {
        double s = double(dwpe[t * C + c]);
        for (std::int64_t b = 0; b < B; ++b) s += double(dout[(b * seq + t) * C + c]);
        dwpe[t * C + c] = static_cast<T>(s);
      }
  }
}

template void embedding<float>(const std::int32_t*, const float*, const float*, float*, std::int64_t, std::int64_t,
                               std::int64_t);
template void embedding<double>(const std::int32_t*, const double*, const double*, double*, std::int64_t,
                                std::int64_t, std::int64_t);
template void embedding_backward<float>(const std::int32_t*, const float*, float*, float*, std::int64_t, std::int64_t,
                                        std::int64_t);
template void embedding_backward<double>(const std::int32_t*, const double*, double*, double*, std::int64_t,
                                         std::int64_t, std::int64_t);

}  // namespace tandem::ref

namespace tandem {

void ReferenceKernels::do_embedding(const Tensor& ids, const Tensor& wte, const Tensor& wpe, Tensor& out) {
  ref::embedding(ids.data<std::int32_t>(), wte.data<float>(), wpe.defined() ? wpe.data<float>() : nullptr,
                 out.data<float>(), ids.dim(0), ids.dim(1), wte.dim(1));
}

void ReferenceKernels::do_embedding_backward(const Tensor& ids, const Tensor& dout, Tensor& dwte, Tensor& dwpe) {
  ref::embedding_backward(ids.data<std::int32_t>(), dout.data<float>(), dwte.data<float>(),
                          dwpe.defined() ? dwpe.data<float>() : nullptr, ids.dim(0), ids.dim(1), dwte.dim(1));
}

}  // namespace tandem
