#include "ops/layernorm.hpp"

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

void validate_layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, const Tensor& out,
                        const Tensor& mean, const Tensor& rstd) {
  constexpr std::string_view op = "layernorm";
  check::input(op, "x", x);
  check::rank_between(op, "x", x, 1, 4);
  const Shape c{x.dim(-1)}, n{x.shape().rows()};
  check::shaped(op, "weight", weight, c);
  check::shaped(op, "bias", bias, c);
  std::ostringstream e;
  e << eps;
  check::that(std::isfinite(eps) && eps > 0.0f, op, "eps = " + e.str() + " must be positive and finite");
  check::shaped(op, "out", out, x.shape());
  check::shaped(op, "mean", mean, n);
  check::shaped(op, "rstd", rstd, n);
}

void validate_layernorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                 const Tensor& rstd, const Tensor& dx, const Tensor& dweight, const Tensor& dbias) {
  constexpr std::string_view op = "layernorm_backward";
  check::input(op, "dout", dout);
  check::rank_between(op, "dout", dout, 1, 4);
  const Shape c{dout.dim(-1)}, n{dout.shape().rows()};
  check::shaped(op, "x", x, dout.shape());
  check::shaped(op, "weight", weight, c);
  check::shaped(op, "mean", mean, n);
  check::shaped(op, "rstd", rstd, n);
  check::shaped(op, "dx", dx, dout.shape());
  if (dweight.defined()) check::shaped(op, "dweight", dweight, c);
  if (dbias.defined()) check::shaped(op, "dbias", dbias, c);
}

OpCost layernorm_cost(const Shape& x) {
  const auto n = static_cast<double>(x.numel());
  const auto c = static_cast<double>(x.rank() > 0 ? x[-1] : 1);
  const double rows = n / c;
  // mean 1, variance 3, normalise and affine 4 flops an element; read x, weight, bias;
  // write out, mean, rstd
  return {8 * n, 4 * (n + 2 * c + n + 2 * rows)};
}

OpCost layernorm_backward_cost(const Shape& x, bool with_dweight, bool with_dbias) {
  const auto n = static_cast<double>(x.numel());
  const auto c = static_cast<double>(x.rank() > 0 ? x[-1] : 1);
  const double rows = n / c;
  // xhat 2, g 1, two row means 3, dx 5, dweight 2, dbias 1 flops an element; read dout,
  // x, weight, mean, rstd; read+write dx, dweight, dbias
  const double flops = (11 + (with_dweight ? 2 : 0) + (with_dbias ? 1 : 0)) * n;
  const double bytes = 4 * (2 * n + c + 2 * rows + 2 * n + (with_dweight ? 2 * c : 0) + (with_dbias ? 2 * c : 0));
  return {flops, bytes};
}

}  // namespace tandem::op

namespace tandem::ref {

template <class T>
void layernorm(const T* x, const T* weight, const T* bias, double eps, T* out, T* mean, T* rstd, std::int64_t N,
               std::int64_t C) {
  for (std::int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * C;
    double m = 0;
    for (std::int64_t c = 0; c < C; ++c) m += double(xr[c]);
    m /= double(C);
    double v = 0;
    for (std::int64_t c = 0; c < C; ++c) v += (double(xr[c]) - m) * (double(xr[c]) - m);
    v /= double(C);
    const double rs = 1.0 / std::sqrt(v + eps);
    for (std::int64_t c = 0; c < C; ++c)
      out[n * C + c] = static_cast<T>((double(xr[c]) - m) * rs * double(weight[c]) + double(bias[c]));
    mean[n] = static_cast<T>(m);
    rstd[n] = static_cast<T>(rs);
  }
}

template <class T>
void layernorm_backward(const T* dout, const T* x, const T* weight, const T* mean, const T* rstd, T* dx, T* dweight,
                        T* dbias, std::int64_t N, std::int64_t C) {
  const auto cs = static_cast<std::size_t>(C);
  std::vector<double> dw(cs, 0.0), db(cs, 0.0), xhat(cs), g(cs);
  for (std::int64_t n = 0; n < N; ++n) {
    const double m = double(mean[n]), rs = double(rstd[n]);
    double g_mean = 0, gx_mean = 0;
    for (std::size_t c = 0; c < cs; ++c) {
      const auto i = n * C + std::int64_t(c);
      xhat[c] = (double(x[i]) - m) * rs;
      g[c] = double(dout[i]) * double(weight[c]);
      g_mean += g[c];
      gx_mean += g[c] * xhat[c];
      dw[c] += double(dout[i]) * xhat[c];
      db[c] += double(dout[i]);
    }
    g_mean /= double(C);
    gx_mean /= double(C);
    for (std::size_t c = 0; c < cs; ++c) {
      const auto i = n * C + std::int64_t(c);
      dx[i] = static_cast<T>(double(dx[i]) + rs * (g[c] - g_mean - xhat[c] * gx_mean));
    }
  }
  for (std::size_t c = 0; c < cs; ++c) {
    if (dweight) dweight[c] = static_cast<T>(double(dweight[c]) + dw[c]);
    if (dbias) dbias[c] = static_cast<T>(double(dbias[c]) + db[c]);
  }
}

template void layernorm<float>(const float*, const float*, const float*, double, float*, float*, float*,
                               std::int64_t, std::int64_t);
template void layernorm<double>(const double*, const double*, const double*, double, double*, double*, double*,
                                std::int64_t, std::int64_t);
template void layernorm_backward<float>(const float*, const float*, const float*, const float*, const float*, float*,
                                        float*, float*, std::int64_t, std::int64_t);
template void layernorm_backward<double>(const double*, const double*, const double*, const double*, const double*,
                                         double*, double*, double*, std::int64_t, std::int64_t);

}  // namespace tandem::ref

namespace tandem {

void ReferenceKernels::do_layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out,
                                    Tensor& mean, Tensor& rstd) {
  ref::layernorm(x.data<float>(), weight.data<float>(), bias.data<float>(), double(eps), out.data<float>(),
                 mean.data<float>(), rstd.data<float>(), x.shape().rows(), x.dim(-1));
}

void ReferenceKernels::do_layernorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight,
                                             const Tensor& mean, const Tensor& rstd, Tensor& dx, Tensor& dweight,
                                             Tensor& dbias) {
  ref::layernorm_backward(dout.data<float>(), x.data<float>(), weight.data<float>(), mean.data<float>(),
                          rstd.data<float>(), dx.data<float>(), dweight.defined() ? dweight.data<float>() : nullptr,
                          dbias.defined() ? dbias.data<float>() : nullptr, dout.shape().rows(), dout.dim(-1));
}

}  // namespace tandem
