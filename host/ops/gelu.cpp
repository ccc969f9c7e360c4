#include "ops/gelu.hpp"

#include <cmath>
#include <numbers>
#include <string>

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

namespace {
void check_kind(std::string_view op, GeluKind kind) {
  check::that(kind == GeluKind::Tanh || kind == GeluKind::Erf, op,
              "kind " + std::to_string(static_cast<int>(kind)) + " is not a GeluKind (Tanh or Erf)");
}
// Rough per-element operation counts; a transcendental counts as 8.
constexpr double kForwardFlops[] = {16, 12};   // Tanh, Erf
constexpr double kBackwardFlops[] = {26, 22};  // Tanh, Erf
}  // namespace

void validate_gelu(const Tensor& x, const Tensor& out, GeluKind kind) {
  constexpr std::string_view op = "gelu";
  check::input(op, "x", x);
  check::shaped(op, "out", out, x.shape());
  check_kind(op, kind);
}

void validate_gelu_backward(const Tensor& x, const Tensor& dout, const Tensor& dx, GeluKind kind) {
  constexpr std::string_view op = "gelu_backward";
  check::input(op, "x", x);
  check::shaped(op, "dout", dout, x.shape());
  check::shaped(op, "dx", dx, x.shape());
  check_kind(op, kind);
}

OpCost gelu_cost(const Shape& x, GeluKind kind) {
  const auto n = static_cast<double>(x.numel());
  return {kForwardFlops[kind == GeluKind::Erf ? 1 : 0] * n, 4 * 2 * n};  // read x, write out
}

OpCost gelu_backward_cost(const Shape& x, GeluKind kind) {
  const auto n = static_cast<double>(x.numel());
  return {kBackwardFlops[kind == GeluKind::Erf ? 1 : 0] * n, 4 * 4 * n};  // read x, dout; read+write dx
}

}  // namespace tandem::op

namespace tandem::ref {

namespace {
constexpr double kA = 0.044715;
const double kK = std::sqrt(2.0 / std::numbers::pi);  // √(2/π)

// Φ(x) = 0.5·(1 + erf(x/√2)), through erfc so that it keeps its relative accuracy for x < 0.
double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }

double gelu_value(double x, GeluKind kind) {
  if (kind == GeluKind::Tanh) {
    // 0.5·(1 + tanh(u)) = 1 / (1 + exp(−2u)): the same value without cancellation for x < 0.
    const double u = kK * (x + kA * x * x * x);
    return x / (1.0 + std::exp(-2.0 * u));
  }
  return x * normal_cdf(x);
}

double gelu_derivative(double x, GeluKind kind) {
  if (kind == GeluKind::Tanh) {
    const double t = std::tanh(kK * (x + kA * x * x * x));
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * kK * (1.0 + 3.0 * kA * x * x);
  }
  const double pdf = std::exp(-0.5 * x * x) / std::sqrt(2.0 * std::numbers::pi);
  return normal_cdf(x) + x * pdf;
}
}  // namespace

template <class T> void gelu(const T* x, T* out, std::int64_t n, GeluKind kind) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(gelu_value(double(x[i]), kind));
}

template <class T> void gelu_backward(const T* x, const T* dout, T* dx, std::int64_t n, GeluKind kind) {
  for (std::int64_t i = 0; i < n; ++i)
    dx[i] = static_cast<T>(double(dx[i]) + gelu_derivative(double(x[i]), kind) * double(dout[i]));
}

template void gelu<float>(const float*, float*, std::int64_t, GeluKind);
template void gelu<double>(const double*, double*, std::int64_t, GeluKind);
template void gelu_backward<float>(const float*, const float*, float*, std::int64_t, GeluKind);
template void gelu_backward<double>(const double*, const double*, double*, std::int64_t, GeluKind);

}  // namespace tandem::ref

namespace tandem {

void ReferenceKernels::do_gelu(const Tensor& x, Tensor& out, GeluKind kind) {
  ref::gelu(x.data<float>(), out.data<float>(), x.numel(), kind);
}

void ReferenceKernels::do_gelu_backward(const Tensor& x, const Tensor& dout, Tensor& dx, GeluKind kind) {
  ref::gelu_backward(x.data<float>(), dout.data<float>(), dx.data<float>(), x.numel(), kind);
}

}  // namespace tandem
