#include "ops/dropout.hpp"

#include <sstream>
#include <string>

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

namespace {
void check_p(std::string_view op, float p) {
  std::ostringstream s;
  s << p;
  check::that(p >= 0.0f && p < 1.0f, op, "p = " + s.str() + " must be in [0, 1)");  // false for NaN
}
// The mask hash is about 11 integer operations; plus the compare and the scale.
constexpr double kOpsPerElement = 13;
}  // namespace

void validate_dropout(const Tensor& x, const Tensor& out, const DropoutArgs& args) {
  constexpr std::string_view op = "dropout";
  check::input(op, "x", x);
  check::shaped(op, "out", out, x.shape());
  check_p(op, args.p);
}

void validate_dropout_backward(const Tensor& dout, const Tensor& dx, const DropoutArgs& args) {
  constexpr std::string_view op = "dropout_backward";
  check::input(op, "dout", dout);
  check::shaped(op, "dx", dx, dout.shape());
  check_p(op, args.p);
}

OpCost dropout_cost(const Shape& x) {
  const auto n = static_cast<double>(x.numel());
  return {kOpsPerElement * n, 4 * 2 * n};  // read x, write out (the mask is not stored)
}

OpCost dropout_backward_cost(const Shape& x) {
  const auto n = static_cast<double>(x.numel());
  return {(kOpsPerElement + 1) * n, 4 * 3 * n};  // read dout, read+write dx
}

}  // namespace tandem::op

namespace tandem::ref {

template <class T> void dropout(const T* x, T* out, std::int64_t n, float p, std::uint64_t seed) {
  const std::uint64_t key = op::dropout_key(seed);
  for (std::int64_t i = 0; i < n; ++i)
    out[i] = op::dropout_keep(key, std::uint64_t(i), p) ? static_cast<T>(double(x[i]) / (1.0 - double(p))) : T(0);
}

template <class T> void dropout_backward(const T* dout, T* dx, std::int64_t n, float p, std::uint64_t seed) {
  const std::uint64_t key = op::dropout_key(seed);
  for (std::int64_t i = 0; i < n; ++i)
    if (op::dropout_keep(key, std::uint64_t(i), p))
      dx[i] = static_cast<T>(double(dx[i]) + double(dout[i]) / (1.0 - double(p)));
}

template void dropout<float>(const float*, float*, std::int64_t, float, std::uint64_t);
template void dropout<double>(const double*, double*, std::int64_t, float, std::uint64_t);
template void dropout_backward<float>(const float*, float*, std::int64_t, float, std::uint64_t);
template void dropout_backward<double>(const double*, double*, std::int64_t, float, std::uint64_t);

}  // namespace tandem::ref

namespace tandem {

void ReferenceKernels::do_dropout(const Tensor& x, Tensor& out, const DropoutArgs& args) {
  ref::dropout(x.data<float>(), out.data<float>(), x.numel(), args.p, args.seed);
}

void ReferenceKernels::do_dropout_backward(const Tensor& dout, Tensor& dx, const DropoutArgs& args) {
  ref::dropout_backward(dout.data<float>(), dx.data<float>(), dout.numel(), args.p, args.seed);
}

}  // namespace tandem
