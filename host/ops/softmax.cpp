#include "ops/softmax.hpp"

#include <algorithm>
#include <cmath>

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

void validate_softmax(const Tensor& x, const Tensor& out) {
  constexpr std::string_view op = "softmax";
  check::input(op, "x", x);
  check::rank_between(op, "x", x, 1, 4);
  check::shaped(op, "out", out, x.shape());
}

void validate_softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx) {
  constexpr std::string_view op = "softmax_backward";
  check::input(op, "y", y);
  check::rank_between(op, "y", y, 1, 4);
  check::shaped(op, "dy", dy, y.shape());
  check::shaped(op, "dx", dx, y.shape());
}

OpCost softmax_cost(const Shape& x) {
  const auto n = static_cast<double>(x.numel());
  // max 1, subtract 1, exp (counted 8), sum 1, scale 1 flops an element; read x, write out
  return {12 * n, 4 * 2 * n};
}

OpCost softmax_backward_cost(const Shape& y) {
  const auto n = static_cast<double>(y.numel());
  // dot 2, subtract 1, multiply 1, add 1 flops an element; read y, dy; read+write dx
  return {5 * n, 4 * 4 * n};
}

}  // namespace tandem::op

namespace tandem::ref {

template <class T> void softmax(const T* x, T* out, std::int64_t N, std::int64_t C) {
  for (std::int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * C;
    T* o = out + n * C;
    double mx = double(xr[0]);
    for (std::int64_t c = 1; c < C; ++c) mx = std::max(mx, double(xr[c]));
    double sum = 0;
    for (std::int64_t c = 0; c < C; ++c) sum += std::exp(double(xr[c]) - mx);
    for (std::int64_t c = 0; c < C; ++c) o[c] = static_cast<T>(std::exp(double(xr[c]) - mx) / sum);
  }
}

template <class T> void softmax_backward(const T* y, const T* dy, T* dx, std::int64_t N, std::int64_t C) {
  for (std::int64_t n = 0; n < N; ++n) {
    const std::int64_t r = n * C;
    double dot = 0;
    for (std::int64_t c = 0; c < C; ++c) dot += double(dy[r + c]) * double(y[r + c]);
    for (std::int64_t c = 0; c < C; ++c)
      dx[r + c] = static_cast<T>(double(dx[r + c]) + double(y[r + c]) * (double(dy[r + c]) - dot));
  }
}

template void softmax<float>(const float*, float*, std::int64_t, std::int64_t);
template void softmax<double>(const double*, double*, std::int64_t, std::int64_t);
template void softmax_backward<float>(const float*, const float*, float*, std::int64_t, std::int64_t);
template void softmax_backward<double>(const double*, const double*, double*, std::int64_t, std::int64_t);

}  // namespace tandem::ref

namespace tandem {

void ReferenceKernels::do_softmax(const Tensor& x, Tensor& out) {
  ref::softmax(x.data<float>(), out.data<float>(), x.shape().rows(), x.dim(-1));
}

void ReferenceKernels::do_softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  ref::softmax_backward(y.data<float>(), dy.data<float>(), dx.data<float>(), y.shape().rows(), y.dim(-1));
}

}  // namespace tandem
