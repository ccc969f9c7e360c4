#include "ops/pooling.hpp"

#include <cmath>
#include <sstream>
#include <string>

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

namespace {

// mask (B, T) when defined, with finite weights >= 0.
void check_mask(std::string_view op, const Tensor& mask, std::int64_t B, std::int64_t T) {
  if (!mask.defined()) return;
  check::shaped(op, "mask", mask, Shape{B, T});
  const float* m = mask.data<float>();
  for (std::int64_t i = 0, n = mask.numel(); i < n; ++i) {
    if (!(std::isfinite(m[i]) && m[i] >= 0.0f)) {
      std::ostringstream s;
      s << "mask " << mask.shape().str() << " holds " << m[i] << " at [" << i / T << ", " << i % T
        << "]; weights must be finite and >= 0";
      check::that(false, op, s.str());
    }
  }
}

// dout (B, C) and dx (B, T, C) agree.
void check_backward(std::string_view op, const Tensor& dout, const Tensor& dx) {
  check::input(op, "dout", dout);
  check::rank(op, "dout", dout, 2);
  check::input(op, "dx", dx);
  check::rank(op, "dx", dx, 3);
  check::shaped(op, "dx", dx, Shape{dout.dim(0), dx.dim(1), dout.dim(1)});
}

}  // namespace

void validate_mean_pool(const Tensor& x, const Tensor& mask, const Tensor& out) {
  constexpr std::string_view op = "mean_pool";
  check::input(op, "x", x);
  check::rank(op, "x", x, 3);
  check_mask(op, mask, x.dim(0), x.dim(1));
  check::shaped(op, "out", out, Shape{x.dim(0), x.dim(2)});
}

void validate_mean_pool_backward(const Tensor& dout, const Tensor& mask, const Tensor& dx) {
  constexpr std::string_view op = "mean_pool_backward";
  check_backward(op, dout, dx);
  check_mask(op, mask, dx.dim(0), dx.dim(1));
}

void validate_first_token_pool(const Tensor& x, const Tensor& out) {
  constexpr std::string_view op = "first_token_pool";
  check::input(op, "x", x);
  check::rank(op, "x", x, 3);
  check::shaped(op, "out", out, Shape{x.dim(0), x.dim(2)});
}

void validate_first_token_pool_backward(const Tensor& dout, const Tensor& dx) {
  check_backward("first_token_pool_backward", dout, dx);
}

namespace {
struct Dims {
  double b, t, c;
};
Dims dims3(const Shape& x) {
  if (x.rank() != 3) return {1, 1, static_cast<double>(x.numel())};
  return {static_cast<double>(x[0]), static_cast<double>(x[1]), static_cast<double>(x[2])};
}
}  // namespace

OpCost mean_pool_cost(const Shape& x, bool with_mask) {
  const auto [b, t, c] = dims3(x);
  // multiply-add a token element, one scale an output; read x (and mask), write out
  return {2 * b * t * c + b * c, 4 * (b * t * c + (with_mask ? b * t : 0) + b * c)};
}

OpCost mean_pool_backward_cost(const Shape& x, bool with_mask) {
  const auto [b, t, c] = dims3(x);
  // multiply-add a dx element; read dout (and mask), read+write dx
  return {2 * b * t * c, 4 * (b * c + (with_mask ? b * t : 0) + 2 * b * t * c)};
}

OpCost first_token_pool_cost(const Shape& x) {
  const auto [b, t, c] = dims3(x);
  (void)t;
  return {0, 4 * 2 * b * c};  // read x[:, 0], write out
}

OpCost first_token_pool_backward_cost(const Shape& x) {
  const auto [b, t, c] = dims3(x);
  (void)t;
  return {b * c, 4 * 3 * b * c};  // read dout, read+write dx[:, 0]
}

}  // namespace tandem::op

namespace tandem::ref {

template <class T>
void mean_pool(const T* x, const T* mask, T* out, std::int64_t B, std::int64_t seq, std::int64_t C) {
  for (std::int64_t b = 0; b < B; ++b) {
    double total = 0;
    for (std::int64_t t = 0; t < seq; ++t) total += mask ? double(mask[b * seq + t]) : 1.0;
    for (std::int64_t c = 0; c < C; ++c) {
      double s = 0;
      for (std::int64_t t = 0; t < seq; ++t)
        s += (mask ? double(mask[b * seq + t]) : 1.0) * double(x[(b * seq + t) * C + c]);
      out[b * C + c] = total > 0 ? static_cast<T>(s / total) : T(0);
    }
  }
}

template <class T>
void mean_pool_backward(const T* dout, const T* mask, T* dx, std::int64_t B, std::int64_t seq, std::int64_t C) {
  for (std::int64_t b = 0; b < B; ++b) {
    double total = 0;
    for (std::int64_t t = 0; t < seq; ++t) total += mask ? double(mask[b * seq + t]) : 1.0;
    if (total == 0) continue;
    for (std::int64_t t = 0; t < seq; ++t) {
      const double w = (mask ? double(mask[b * seq + t]) : 1.0) / total;
      for (std::int64_t c = 0; c < C; ++c) {
        T& d = dx[(b * seq + t) * C + c];
        d = static_cast<T>(double(d) + w * double(dout[b * C + c]));
      }
    }
  }
}

template <class T> void first_token_pool(const T* x, T* out, std::int64_t B, std::int64_t seq, std::int64_t C) {
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t c = 0; c < C; ++c) out[b * C + c] = x[b * seq * C + c];
}

template <class T>
void first_token_pool_backward(const T* dout, T* dx, std::int64_t B, std::int64_t seq, std::int64_t C) {
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t c = 0; c < C; ++c) {
      T& d = dx[b * seq * C + c];
      d = static_cast<T>(double(d) + double(dout[b * C + c]));
    }
}

template void mean_pool<float>(const float*, const float*, float*, std::int64_t, std::int64_t, std::int64_t);
template void mean_pool<double>(const double*, const double*, double*, std::int64_t, std::int64_t, std::int64_t);
template void mean_pool_backward<float>(const float*, const float*, float*, std::int64_t, std::int64_t,
                                        std::int64_t);
template void mean_pool_backward<double>(const double*, const double*, double*, std::int64_t, std::int64_t,
                                         std::int64_t);
template void first_token_pool<float>(const float*, float*, std::int64_t, std::int64_t, std::int64_t);
template void first_token_pool<double>(const double*, double*, std::int64_t, std::int64_t, std::int64_t);
template void first_token_pool_backward<float>(const float*, float*, std::int64_t, std::int64_t, std::int64_t);
template void first_token_pool_backward<double>(const double*, double*, std::int64_t, std::int64_t, std::int64_t);

}  // namespace tandem::ref

namespace tandem {

void ReferenceKernels::do_mean_pool(const Tensor& x, const Tensor& mask, Tensor& out) {
  ref::mean_pool(x.data<float>(), mask.defined() ? mask.data<float>() : nullptr, out.data<float>(), x.dim(0),
                 x.dim(1), x.dim(2));
}

void ReferenceKernels::do_mean_pool_backward(const Tensor& dout, const Tensor& mask, Tensor& dx) {
  ref::mean_pool_backward(dout.data<float>(), mask.defined() ? mask.data<float>() : nullptr, dx.data<float>(),
                          dx.dim(0), dx.dim(1), dx.dim(2));
}

void ReferenceKernels::do_first_token_pool(const Tensor& x, Tensor& out) {
  ref::first_token_pool(x.data<float>(), out.data<float>(), x.dim(0), x.dim(1), x.dim(2));
}

void ReferenceKernels::do_first_token_pool_backward(const Tensor& dout, Tensor& dx) {
  ref::first_token_pool_backward(dout.data<float>(), dx.data<float>(), dx.dim(0), dx.dim(1), dx.dim(2));
}

}  // namespace tandem
