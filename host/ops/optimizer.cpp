#include "ops/optimizer.hpp"

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

namespace {

// A scalar argument as printf's %g writes it ("0.001", "nan", "-inf").
std::string num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

template <class TensorT> void check_grad_list(std::string_view op, std::span<TensorT> grads) {
  check::that(!grads.empty(), op, "no gradients given (empty list)");
  for (std::size_t i = 0; i < grads.size(); ++i) check::input(op, "grads[" + std::to_string(i) + "]", grads[i]);
}

// [a, a+n) and [b, b+n) share no element.
bool overlap(const Tensor& a, const Tensor& b) {
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  return pa < pb + b.numel() && pb < pa + a.numel();
}

}  // namespace

void validate_grad_norm(std::span<const Tensor> grads) { check_grad_list("grad_norm", grads); }

void validate_clip_grad_norm(std::span<Tensor> grads, float max_norm) {
  constexpr std::string_view op = "clip_grad_norm";
  check_grad_list(op, grads);
  check::that(std::isfinite(max_norm) && max_norm > 0, op,
              "max_norm is " + num(max_norm) + ", expected a finite value > 0");
}

void validate_adamw(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, const AdamWArgs& args) {
  constexpr std::string_view op = "adamw";
  check::input(op, "param", param);
  check::shaped(op, "grad", grad, param.shape());
  check::shaped(op, "m", m, param.shape());
  check::shaped(op, "v", v, param.shape());
  check::that(std::isfinite(args.lr) && args.lr >= 0, op, "lr is " + num(args.lr) + ", expected a finite value >= 0");
  check::that(args.beta1 >= 0 && args.beta1 < 1, op, "beta1 is " + num(args.beta1) + ", expected a value in [0, 1)");
  check::that(args.beta2 >= 0 && args.beta2 < 1, op, "beta2 is " + num(args.beta2) + ", expected a value in [0, 1)");
  check::that(std::isfinite(args.eps) && args.eps > 0, op, "eps is " + num(args.eps) + ", expected a finite value > 0");
  check::that(std::isfinite(args.weight_decay) && args.weight_decay >= 0, op,
              "weight_decay is " + num(args.weight_decay) + ", expected a finite value >= 0");
  check::that(args.step >= 1, op, "step is " + std::to_string(args.step) + ", expected >= 1 (steps count from 1)");
  const Tensor* t[] = {&param, &grad, &m, &v};
  const char* names[] = {"param", "grad", "m", "v"};
  for (int i = 0; i < 4; ++i)
    for (int j = i + 1; j < 4; ++j)
      check::that(!overlap(*t[i], *t[j]), op,
                  std::string(names[i]) + " and " + names[j] + " " + param.shape().str() + " share memory");
}

OpCost grad_norm_cost(std::int64_t n) {
  const auto e = static_cast<double>(n);
  return {2 * e, 4 * e};
}

OpCost clip_grad_norm_cost(std::int64_t n) {
  const auto e = static_cast<double>(n);
  return {3 * e, 4 * e + 8 * e};  // norm: read g; scale: read and write g
}

OpCost adamw_cost(std::int64_t n) {
  const auto e = static_cast<double>(n);
  // decay 1, m 3, v 4, sqrt+scale+eps 3, divide 1, update 2.
  return {14 * e, 28 * e};
}

AdamWScalars adamw_scalars(const AdamWArgs& args) {
  const double b1 = args.beta1, b2 = args.beta2, lr = args.lr;
  const auto t = static_cast<double>(args.step);
  const double bc1 = 1 - std::pow(b1, t);
  const double bc2 = 1 - std::pow(b2, t);
  return {b1, 1 - b1, b2, 1 - b2, 1 - lr * double(args.weight_decay), lr / bc1, 1 / std::sqrt(bc2), double(args.eps)};
}

void adamw_nonfinite_grad(const Tensor& grad) {
  throw Error("adamw: grad " + grad.shape().str() + " contains NaN or Inf");
}

}  // namespace tandem::op

namespace tandem::ref {

template <class T> double sum_squares(const T* x, std::int64_t n) {
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += double(x[i]) * double(x[i]);
  return s;
}

template <class T> void scale(T* x, std::int64_t n, T factor) {
  for (std::int64_t i = 0; i < n; ++i) x[i] = static_cast<T>(double(x[i]) * double(factor));
}

template <class T> void adamw(T* param, const T* grad, T* m, T* v, std::int64_t n, const AdamWArgs& args) {
  const double lr = args.lr, b1 = args.beta1, b2 = args.beta2, eps = args.eps, wd = args.weight_decay;
  const auto t = static_cast<double>(args.step);
  const double bc1 = 1 - std::pow(b1, t);
  const double bc2 = 1 - std::pow(b2, t);
  for (std::int64_t i = 0; i < n; ++i) {
    const double g = grad[i];
    const double mi = b1 * double(m[i]) + (1 - b1) * g;
    const double vi = b2 * double(v[i]) + (1 - b2) * g * g;
    const double m_hat = mi / bc1;
    const double v_hat = vi / bc2;
    const double p = param[i];
    param[i] = static_cast<T>(p - lr * (m_hat / (std::sqrt(v_hat) + eps) + wd * p));
    m[i] = static_cast<T>(mi);
    v[i] = static_cast<T>(vi);
  }
}

template double sum_squares<float>(const float*, std::int64_t);
template double sum_squares<double>(const double*, std::int64_t);
template void scale<float>(float*, std::int64_t, float);
template void scale<double>(double*, std::int64_t, double);
template void adamw<float>(float*, const float*, float*, float*, std::int64_t, const AdamWArgs&);
template void adamw<double>(double*, const double*, double*, double*, std::int64_t, const AdamWArgs&);

}  // namespace tandem::ref

namespace tandem {

double ReferenceKernels::do_grad_norm(std::span<const Tensor> grads) {
  double s = 0;
  for (const Tensor& g : grads) s += ref::sum_squares(g.data<float>(), g.numel());
  return std::sqrt(s);
}

void ReferenceKernels::do_scale_grads(std::span<Tensor> grads, float factor) {
  for (Tensor& g : grads) ref::scale(g.data<float>(), g.numel(), factor);
}

void ReferenceKernels::do_adamw(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWArgs& args) {
  const float* g = grad.data<float>();
  for (std::int64_t i = 0, n = grad.numel(); i < n; ++i)
    if (!std::isfinite(g[i])) op::adamw_nonfinite_grad(grad);
  ref::adamw(param.data<float>(), g, m.data<float>(), v.data<float>(), param.numel(), args);
}

}  // namespace tandem
