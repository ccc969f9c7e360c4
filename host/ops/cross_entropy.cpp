#include "ops/cross_entropy.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

namespace {

// Shapes of logits (N, V) and the tensors tied to them, shared by forward and backward.
void check_logits_targets(std::string_view op, const Tensor& logits, const Tensor& targets) {
  check::input(op, "logits", logits);
  check::rank(op, "logits", logits, 2);
  check::shaped(op, "targets", targets, Shape{logits.dim(0)}, DType::I32);
}

// Every target lies in [0, V) or equals ignore_index.
void check_target_values(std::string_view op, const Tensor& targets, std::int64_t v, std::int32_t ignore_index) {
  const std::int32_t* t = targets.data<std::int32_t>();
  for (std::int64_t i = 0, n = targets.numel(); i < n; ++i) {
    if (t[i] == ignore_index || (t[i] >= 0 && t[i] < v)) continue;
    check::that(false, op,
                "targets[" + std::to_string(i) + "] = " + std::to_string(t[i]) + " is outside [0, " +
                    std::to_string(v) + ") and is not ignore_index " + std::to_string(ignore_index));
  }
}

}  // namespace

void validate_cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& loss, const Tensor& lse,
                            const CrossEntropyArgs& args) {
  constexpr std::string_view op = "cross_entropy";
  check_logits_targets(op, logits, targets);
  check::shaped(op, "loss", loss, Shape{1});
  check::shaped(op, "lse", lse, Shape{logits.dim(0)});
  check_target_values(op, targets, logits.dim(1), args.ignore_index);
}

void validate_cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse, float dloss,
                                     const Tensor& dlogits, const CrossEntropyArgs& args) {
  constexpr std::string_view op = "cross_entropy_backward";
  check_logits_targets(op, logits, targets);
  check::shaped(op, "lse", lse, Shape{logits.dim(0)});
  check::shaped(op, "dlogits", dlogits, logits.shape());
  check::that(std::isfinite(dloss), op, "dloss is " + std::to_string(dloss) + ", expected a finite value");
  check_target_values(op, targets, logits.dim(1), args.ignore_index);
}

void validate_cross_entropy_lse(const Tensor& lse) {
  // lse comes from the forward pass; N values, so checking them costs nothing.
  check::finite("cross_entropy_backward", "lse", lse);
}

OpCost cross_entropy_cost(std::int64_t n, std::int64_t v) {
  const auto rows = static_cast<double>(n);
  const auto e = rows * static_cast<double>(v);
  // max, subtract, exp, add per element; read logits, targets; write lse and loss.
  return {4 * e, 4 * (e + 2 * rows + 1)};
}

OpCost cross_entropy_backward_cost(std::int64_t n, std::int64_t v) {
  const auto rows = static_cast<double>(n);
  const auto e = rows * static_cast<double>(v);
  // subtract, exp, multiply, add per element; read logits, read+write dlogits, targets, lse.
  return {4 * e, 4 * (3 * e + 2 * rows)};
}

void cross_entropy_nonfinite_logits(std::int64_t n, std::int64_t v) {
  throw Error("cross_entropy: logits " + Shape{n, v}.str() + " contains NaN or Inf");
}

}  // namespace tandem::op

namespace tandem::ref {

template <class T>
void cross_entropy(const T* logits, const std::int32_t* targets, T* loss, T* lse, std::int64_t n, std::int64_t v,
                   std::int32_t ignore_index) {
  double total = 0;
  std::int64_t count = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const T* row = logits + i * v;
    double mx = -std::numeric_limits<double>::infinity();
    for (std::int64_t j = 0; j < v; ++j) {
      if (!std::isfinite(double(row[j]))) op::cross_entropy_nonfinite_logits(n, v);
      mx = std::max(mx, double(row[j]));
    }
    double sum = 0;
    for (std::int64_t j = 0; j < v; ++j) sum += std::exp(double(row[j]) - mx);
    const double l = mx + std::log(sum);
    lse[i] = static_cast<T>(l);
    if (targets[i] == ignore_index) continue;
    total += l - double(row[targets[i]]);
    ++count;
  }
  loss[0] = static_cast<T>(count > 0 ? total / double(count) : 0.0);
}

template <class T>
void cross_entropy_backward(const T* logits, const std::int32_t* targets, const T* lse, T dloss, T* dlogits,
                            std::int64_t n, std::int64_t v, std::int32_t ignore_index) {
  std::int64_t count = 0;
  for (std::int64_t i = 0; i < n; ++i) count += targets[i] != ignore_index;
  if (count == 0) return;
  const double scale = double(dloss) / double(count);
  for (std::int64_t i = 0; i < n; ++i) {
    if (targets[i] == ignore_index) continue;
    const T* row = logits + i * v;
    T* drow = dlogits + i * v;
    for (std::int64_t j = 0; j < v; ++j) {
      const double p = std::exp(double(row[j]) - double(lse[i]));
      const double onehot = j == targets[i] ? 1.0 : 0.0;
      drow[j] = static_cast<T>(double(drow[j]) + scale * (p - onehot));
    }
  }
}

template void cross_entropy<float>(const float*, const std::int32_t*, float*, float*, std::int64_t, std::int64_t,
                                   std::int32_t);
template void cross_entropy<double>(const double*, const std::int32_t*, double*, double*, std::int64_t,
                                    std::int64_t, std::int32_t);
template void cross_entropy_backward<float>(const float*, const std::int32_t*, const float*, float, float*,
                                            std::int64_t, std::int64_t, std::int32_t);
template void cross_entropy_backward<double>(const double*, const std::int32_t*, const double*, double, double*,
                                             std::int64_t, std::int64_t, std::int32_t);

}  // namespace tandem::ref

namespace tandem {

void ReferenceKernels::do_cross_entropy(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& lse,
                                        const CrossEntropyArgs& args) {
  ref::cross_entropy(logits.data<float>(), targets.data<std::int32_t>(), loss.data<float>(), lse.data<float>(),
                     logits.dim(0), logits.dim(1), args.ignore_index);
}

void ReferenceKernels::do_cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse,
                                                 float dloss, Tensor& dlogits, const CrossEntropyArgs& args) {
  ref::cross_entropy_backward(logits.data<float>(), targets.data<std::int32_t>(), lse.data<float>(), dloss,
                              dlogits.data<float>(), logits.dim(0), logits.dim(1), args.ignore_index);
}

}  // namespace tandem
