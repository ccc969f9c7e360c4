#include "ops/bias.hpp"

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

void validate_bias_add(const Tensor& x, const Tensor& bias, const Tensor& out) {
  constexpr std::string_view op = "bias_add";
  check::input(op, "x", x);
  check::rank_between(op, "x", x, 1, 4);
  check::shaped(op, "bias", bias, Shape{x.dim(-1)});
  check::shaped(op, "out", out, x.shape());
}

void validate_bias_backward(const Tensor& dout, const Tensor& dbias) {
  constexpr std::string_view op = "bias_backward";
  check::input(op, "dout", dout);
  check::rank_between(op, "dout", dout, 1, 4);
  check::shaped(op, "dbias", dbias, Shape{dout.dim(-1)});
}

OpCost bias_add_cost(const Shape& x) {
  const auto n = static_cast<double>(x.numel());
  const auto c = static_cast<double>(x.rank() > 0 ? x[-1] : 1);
  return {n, 4 * (2 * n + c)};  // read x and bias, write out
}

OpCost bias_backward_cost(const Shape& dout) {
  const auto n = static_cast<double>(dout.numel());
  const auto c = static_cast<double>(dout.rank() > 0 ? dout[-1] : 1);
  return {n, 4 * (n + 2 * c)};  // read dout, read+write dbias
}

}  // namespace tandem::op

namespace tandem::ref {

template <class T> void bias_add(const T* x, const T* bias, T* out, std::int64_t N, std::int64_t C) {
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c) out[n * C + c] = static_cast<T>(double(x[n * C + c]) + double(bias[c]));
}

template <class T> void bias_backward(const T* dout, T* dbias, std::int64_t N, std::int64_t C) {
  for (std::int64_t c = 0; c < C; ++c) {
    double s = double(dbias[c]);
    for (std::int64_t n = 0; n < N; ++n) s += double(dout[n * C + c]);
    dbias[c] = static_cast<T>(s);
  }
}

template void bias_add<float>(const float*, const float*, float*, std::int64_t, std::int64_t);
template void bias_add<double>(const double*, const double*, double*, std::int64_t, std::int64_t);
template void bias_backward<float>(const float*, float*, std::int64_t, std::int64_t);
template void bias_backward<double>(const double*, double*, std::int64_t, std::int64_t);

}  // namespace tandem::ref

namespace tandem {

void ReferenceKernels::do_bias_add(const Tensor& x, const Tensor& bias, Tensor& out) {
  ref::bias_add(x.data<float>(), bias.data<float>(), out.data<float>(), x.shape().rows(), x.dim(-1));
}

void ReferenceKernels::do_bias_backward(const Tensor& dout, Tensor& dbias) {
  ref::bias_backward(dout.data<float>(), dbias.data<float>(), dout.shape().rows(), dout.dim(-1));
}

}  // namespace tandem
