#include "ops/lora.hpp"

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

namespace {

// Checks x, a, b and scale; returns the shape of out (x's leading dims, Cout).
Shape check_operands(std::string_view op, const Tensor& x, const Tensor& a, const Tensor& b, const LoraArgs& args) {
  check::input(op, "x", x);
  check::rank_between(op, "x", x, 2, 4);
  check::input(op, "a", a);
  check::rank(op, "a", a, 2);
  check::input(op, "b", b);
  check::rank(op, "b", b, 2);
  check::that(a.dim(0) == x.dim(-1), op,
              "a " + a.shape().str() + " has " + std::to_string(a.dim(0)) + " rows, expected Cin = " +
                  std::to_string(x.dim(-1)) + " (the last dim of x " + x.shape().str() + ")");
  check::that(b.dim(0) == a.dim(1), op,
              "b " + b.shape().str() + " has " + std::to_string(b.dim(0)) + " rows, expected r = " +
                  std::to_string(a.dim(1)) + " (the columns of a " + a.shape().str() + ")");
  check::that(std::isfinite(args.scale), op, "scale " + std::to_string(args.scale) + " is not finite");
  std::int64_t dims[Shape::kMaxRank] = {};
  for (int i = 0; i < x.rank() - 1; ++i) dims[i] = x.dim(i);
  dims[x.rank() - 1] = b.dim(1);
  return Shape(std::span<const std::int64_t>(dims, static_cast<std::size_t>(x.rank())));
}

}  // namespace

void validate_lora(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& out, const Tensor& xa,
                   const LoraArgs& args) {
  const Shape want = check_operands("lora", x, a, b, args);
  check::shaped("lora", "out", out, want);
  check::shaped("lora", "xa", xa, Shape{x.shape().rows(), a.dim(1)});
}

void validate_lora_backward(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& xa, const Tensor& dout,
                            const Tensor& dx, const Tensor& da, const Tensor& db, const LoraArgs& args) {
  const Shape want = check_operands("lora_backward", x, a, b, args);
  check::shaped("lora_backward", "xa", xa, Shape{x.shape().rows(), a.dim(1)});
  check::shaped("lora_backward", "dout", dout, want);
  if (dx.defined()) check::shaped("lora_backward", "dx", dx, x.shape());
  check::shaped("lora_backward", "da", da, a.shape());
  check::shaped("lora_backward", "db", db, b.shape());
}

OpCost lora_cost(std::int64_t n, std::int64_t cin, std::int64_t r, std::int64_t cout) {
  const double N = double(n), I = double(cin), R = double(r), O = double(cout);
  const double flops = 2 * N * I * R + 2 * N * R * O + N * O;  // x·a, xa·b, the add into out
  const double bytes = 4 * (N * I + I * R + R * O + 2 * N * O + N * R);  // out read+written, xa written
  return {flops, bytes};
}

OpCost lora_backward_cost(std::int64_t n, std::int64_t cin, std::int64_t r, std::int64_t cout, bool need_dx) {
  const double N = double(n), I = double(cin), R = double(r), O = double(cout);
  // db, g, da, (dx): four (or three) products
  const double flops = 2 * N * R * O * 2 + 2 * N * I * R * (need_dx ? 2 : 1);
  // read x, a, b, xa, dout; read+write da, db and dx
  const double bytes = 4 * (N * I + I * R + R * O + N * R + N * O + 2 * I * R + 2 * R * O + (need_dx ? 2 * N * I : 0));
  return {flops, bytes};
}

}  // namespace tandem::op

namespace tandem::ref {

template <class T>
void lora(const T* x, const T* a, const T* b, T* out, T* xa, std::int64_t n, std::int64_t cin, std::int64_t r,
          std::int64_t cout, double scale) {
  std::vector<double> row(static_cast<std::size_t>(r));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t q = 0; q < r; ++q) {
      double s = 0;
      for (std::int64_t c = 0; c < cin; ++c) s += double(x[i * cin + c]) * double(a[c * r + q]);
      row[q] = s;
      xa[i * r + q] = static_cast<T>(s);
    }
    for (std::int64_t j = 0; j < cout; ++j) {
      double s = 0;
      for (std::int64_t q = 0; q < r; ++q) s += row[q] * double(b[q * cout + j]);
      out[i * cout + j] = static_cast<T>(double(out[i * cout + j]) + scale * s);
    }
  }
}

template <class T>
void lora_backward(const T* x, const T* a, const T* b, const T* xa, const T* dout, T* dx, T* da, T* db,
                   std::int64_t n, std::int64_t cin, std::int64_t r, std::int64_t cout, double scale) {
  // db[q, j] += scale Σ_i xa[i, q] dout[i, j]
  for (std::int64_t q = 0; q < r; ++q) {
    for (std::int64_t j = 0; j < cout; ++j) {
      double s = 0;
      for (std::int64_t i = 0; i < n; ++i) s += double(xa[i * r + q]) * double(dout[i * cout + j]);
      db[q * cout + j] = static_cast<T>(double(db[q * cout + j]) + scale * s);
    }
  }
  // g[i, q] = scale Σ_j dout[i, j] b[q, j], kept in double
  std::vector<double> g(static_cast<std::size_t>(n * r));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t q = 0; q < r; ++q) {
      double s = 0;
      for (std::int64_t j = 0; j < cout; ++j) s += double(dout[i * cout + j]) * double(b[q * cout + j]);
      g[i * r + q] = scale * s;
    }
  }
  // da[c, q] += Σ_i x[i, c] g[i, q]
  for (std::int64_t c = 0; c < cin; ++c) {
    for (std::int64_t q = 0; q < r; ++q) {
      double s = 0;
      for (std::int64_t i = 0; i < n; ++i) s += double(x[i * cin + c]) * g[i * r + q];
      da[c * r + q] = static_cast<T>(double(da[c * r + q]) + s);
    }
  }
  // dx[i, c] += Σ_q g[i, q] a[c, q]
  if (dx != nullptr) {
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t c = 0; c < cin; ++c) {
        double s = 0;
        for (std::int64_t q = 0; q < r; ++q) s += g[i * r + q] * double(a[c * r + q]);
        dx[i * cin + c] = static_cast<T>(double(dx[i * cin + c]) + s);
      }
    }
  }
}

template void lora<float>(const float*, const float*, const float*, float*, float*, std::int64_t, std::int64_t,
                          std::int64_t, std::int64_t, double);
template void lora<double>(const double*, const double*, const double*, double*, double*, std::int64_t, std::int64_t,
                           std::int64_t, std::int64_t, double);
template void lora_backward<float>(const float*, const float*, const float*, const float*, const float*, float*,
                                   float*, float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t, double);
template void lora_backward<double>(const double*, const double*, const double*, const double*, const double*,
                                    double*, double*, double*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                    double);

}  // namespace tandem::ref

namespace tandem {

void ReferenceKernels::do_lora(const Tensor& x, const Tensor& a, const Tensor& b, Tensor& out, Tensor& xa,
                               const LoraArgs& args) {
  ref::lora(x.data<float>(), a.data<float>(), b.data<float>(), out.data<float>(), xa.data<float>(), x.shape().rows(),
            x.dim(-1), a.dim(1), b.dim(1), args.scale);
}

void ReferenceKernels::do_lora_backward(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& xa,
                                        const Tensor& dout, Tensor& dx, Tensor& da, Tensor& db, const LoraArgs& args) {
  ref::lora_backward(x.data<float>(), a.data<float>(), b.data<float>(), xa.data<float>(), dout.data<float>(),
                     dx.defined() ? dx.data<float>() : nullptr, da.data<float>(), db.data<float>(), x.shape().rows(),
                     x.dim(-1), a.dim(1), b.dim(1), args.scale);
}

}  // namespace tandem
