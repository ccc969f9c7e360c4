#include "ops/residual.hpp"

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

void validate_residual_add(const Tensor& a, const Tensor& b, const Tensor& out) {
  check::input("residual_add", "a", a);
  check::shaped("residual_add", "b", b, a.shape());
  check::shaped("residual_add", "out", out, a.shape());
}

void validate_residual_add_backward(const Tensor& dout, const Tensor& da, const Tensor& db) {
  check::input("residual_add_backward", "dout", dout);
  check::shaped("residual_add_backward", "da", da, dout.shape());
  check::shaped("residual_add_backward", "db", db, dout.shape());
}

OpCost residual_add_cost(const Shape& x) {
  const auto n = static_cast<double>(x.numel());
  return {n, 3 * 4 * n};
}

OpCost residual_add_backward_cost(const Shape& x) {
  const auto n = static_cast<double>(x.numel());
  return {2 * n, 5 * 4 * n};  // read dout, read+write da and db
}

}  // namespace tandem::op

namespace tandem::ref {

template <class T> void residual_add(const T* a, const T* b, T* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(double(a[i]) + double(b[i]));
}

template <class T> void residual_add_backward(const T* dout, T* da, T* db, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    da[i] = static_cast<T>(double(da[i]) + double(dout[i]));
    db[i] = static_cast<T>(double(db[i]) + double(dout[i]));
  }
}

template void residual_add<float>(const float*, const float*, float*, std::int64_t);
template void residual_add<double>(const double*, const double*, double*, std::int64_t);
template void residual_add_backward<float>(const float*, float*, float*, std::int64_t);
template void residual_add_backward<double>(const double*, double*, double*, std::int64_t);

}  // namespace tandem::ref

namespace tandem {

void ReferenceKernels::do_residual_add(const Tensor& a, const Tensor& b, Tensor& out) {
  ref::residual_add(a.data<float>(), b.data<float>(), out.data<float>(), a.numel());
}

void ReferenceKernels::do_residual_add_backward(const Tensor& dout, Tensor& da, Tensor& db) {
  ref::residual_add_backward(dout.data<float>(), da.data<float>(), db.data<float>(), dout.numel());
}

}  // namespace tandem
