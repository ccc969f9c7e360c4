#include "ops/matmul.hpp"

#include <cmath>
#include <string>
#include <string_view>

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

namespace {

// "a (3, 5)" or "b (7, 4) transposed".
std::string operand(std::string_view name, const Tensor& t, bool trans) {
  return std::string(name) + " " + t.shape().str() + (trans ? " transposed" : "");
}

// Checks a and b against each other and returns the shape out must have.
Shape check_operands(std::string_view op, const Tensor& a, const Tensor& b, const MatMulArgs& args) {
  check::input(op, "a", a);
  check::input(op, "b", b);
  check::rank_between(op, "a", a, 2, 4);
  if (a.rank() == 2) {
    check::rank(op, "b", b, 2);
  } else {
    check::that(b.rank() == 2 || b.rank() == a.rank(), op,
                "b " + b.shape().str() + " has rank " + std::to_string(b.rank()) + ", expected 2 (shared) or " +
                    std::to_string(a.rank()) + " (the rank of a " + a.shape().str() + ")");
  }
  if (b.rank() == a.rank()) {
    for (int i = 0; i < a.rank() - 2; ++i)
      check::that(a.dim(i) == b.dim(i), op,
                  "batch dimensions differ: a " + a.shape().str() + " and b " + b.shape().str());
  }
  const std::int64_t ka = args.trans_a ? a.dim(-2) : a.dim(-1);
  const std::int64_t kb = args.trans_b ? b.dim(-1) : b.dim(-2);
  check::that(ka == kb, op,
              "inner dimensions differ: " + operand("a", a, args.trans_a) + " gives K = " + std::to_string(ka) +
                  " but " + operand("b", b, args.trans_b) + " gives K = " + std::to_string(kb));
  check::that(std::isfinite(args.alpha), op, "alpha " + std::to_string(args.alpha) + " is not finite");

  std::int64_t dims[Shape::kMaxRank] = {};
  for (int i = 0; i < a.rank() - 2; ++i) dims[i] = a.dim(i);
  dims[a.rank() - 2] = args.trans_a ? a.dim(-1) : a.dim(-2);
  dims[a.rank() - 1] = args.trans_b ? b.dim(-2) : b.dim(-1);
  return Shape(std::span<const std::int64_t>(dims, static_cast<std::size_t>(a.rank())));
}

}  // namespace

MatMulDims matmul_dims(const Shape& a, const Shape& b, const MatMulArgs& args) {
  MatMulDims d;
  for (int i = 0; i < a.rank() - 2; ++i) d.batch *= a[i];
  d.m = args.trans_a ? a[-1] : a[-2];
  d.k = args.trans_a ? a[-2] : a[-1];
  d.n = args.trans_b ? b[-2] : b[-1];
  d.shared_b = b.rank() == 2 && a.rank() > 2;
  return d;
}

void validate_matmul(const Tensor& a, const Tensor& b, const Tensor& out, const MatMulArgs& args) {
  const Shape want = check_operands("matmul", a, b, args);
  check::that(std::isfinite(args.beta), "matmul", "beta " + std::to_string(args.beta) + " is not finite");
  check::shaped("matmul", "out", out, want);
}

void validate_matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dout, const Tensor& da, const Tensor& db,
                              const MatMulArgs& args) {
  const Shape want = check_operands("matmul_backward", a, b, args);
  check::shaped("matmul_backward", "dout", dout, want);
  if (da.defined()) check::shaped("matmul_backward", "da", da, a.shape());
  if (db.defined()) check::shaped("matmul_backward", "db", db, b.shape());
}

OpCost matmul_cost(const Shape& a, const Shape& b, const MatMulArgs& args) {
  const MatMulDims d = matmul_dims(a, b, args);
  const double mn = double(d.batch) * double(d.m) * double(d.n);
  const bool reads_out = args.beta != 0.0f;
  const double flops = 2 * mn * double(d.k) + (reads_out ? 2 * mn : 0.0);
  const double bytes = 4 * (double(a.numel()) + double(b.numel()) + (reads_out ? 2 : 1) * mn);
  return {flops, bytes};
}

OpCost matmul_backward_cost(const Shape& a, const Shape& b, const MatMulArgs& args, bool need_da, bool need_db) {
  const MatMulDims d = matmul_dims(a, b, args);
  const double mnk = double(d.batch) * double(d.m) * double(d.n) * double(d.k);
  const double na = double(a.numel()), nb = double(b.numel());
  const double dout = double(d.batch) * double(d.m) * double(d.n);
  const double flops = (need_da ? 2 * mnk : 0.0) + (need_db ? 2 * mnk : 0.0);
  // Read dout; da needs b and read+writes da; db needs a and read+writes db.
  const double bytes = 4 * (dout + (need_da ? nb + 2 * na : 0.0) + (need_db ? na + 2 * nb : 0.0));
  return {flops, bytes};
}

}  // namespace tandem::op

namespace tandem::ref {

namespace {
// Element (i, p) of op(A) for A stored (M, K), or (K, M) when transposed.
template <class T> double op_at(const T* x, bool trans, std::int64_t rows, std::int64_t cols, std::int64_t i,
                                std::int64_t j) {
  return trans ? double(x[j * rows + i]) : double(x[i * cols + j]);
}
}  // namespace

template <class T>
void matmul(const T* a, const T* b, T* out, const op::MatMulDims& d, bool trans_a, bool trans_b, double alpha,
            double beta) {
  const std::int64_t M = d.m, N = d.n, K = d.k;
  for (std::int64_t e = 0; e < d.batch; ++e) {
    const T* ae = a + e * M * K;
    const T* be = d.shared_b ? b : b + e * K * N;
    T* oe = out + e * M * N;
    for (std::int64_t i = 0; i < M; ++i) {
      for (std::int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (std::int64_t p = 0; p < K; ++p) s += op_at(ae, trans_a, M, K, i, p) * op_at(be, trans_b, K, N, p, j);
        const double prev = beta == 0 ? 0.0 : beta * double(oe[i * N + j]);  // beta 0 never reads out
        oe[i * N + j] = static_cast<T>(alpha * s + prev);
      }
    }
  }
}

template <class T>
void matmul_backward(const T* a, const T* b, const T* dout, T* da, T* db, const op::MatMulDims& d, bool trans_a,
                     bool trans_b, double alpha) {
  const std::int64_t M = d.m, N = d.n, K = d.k;
  if (da != nullptr) {
    // d op(a)[i, p] = alpha Σ_j dout[i, j] op(b)[p, j]
    for (std::int64_t e = 0; e < d.batch; ++e) {
      const T* be = d.shared_b ? b : b + e * K * N;
      const T* ge = dout + e * M * N;
      T* dae = da + e * M * K;
      for (std::int64_t i = 0; i < M; ++i) {
        for (std::int64_t p = 0; p < K; ++p) {
          double s = 0;
          for (std::int64_t j = 0; j < N; ++j) s += double(ge[i * N + j]) * op_at(be, trans_b, K, N, p, j);
          T& slot = trans_a ? dae[p * M + i] : dae[i * K + p];
          slot = static_cast<T>(double(slot) + alpha * s);
        }
      }
    }
  }
  if (db != nullptr) {
    // d op(b)[p, j] = alpha Σ_i op(a)[i, p] dout[i, j], also over the batch when b is shared
    const std::int64_t entries = d.shared_b ? 1 : d.batch;
    const std::int64_t summed = d.shared_b ? d.batch : 1;
    for (std::int64_t e = 0; e < entries; ++e) {
      T* dbe = db + e * K * N;
      for (std::int64_t p = 0; p < K; ++p) {
        for (std::int64_t j = 0; j < N; ++j) {
          double s = 0;
          for (std::int64_t f = e; f < e + summed; ++f) {
            const T* af = a + f * M * K;
            const T* gf = dout + f * M * N;
            for (std::int64_t i = 0; i < M; ++i) s += op_at(af, trans_a, M, K, i, p) * double(gf[i * N + j]);
          }
          T& slot = trans_b ? dbe[j * K + p] : dbe[p * N + j];
          slot = static_cast<T>(double(slot) + alpha * s);
        }
      }
    }
  }
}

template void matmul<float>(const float*, const float*, float*, const op::MatMulDims&, bool, bool, double, double);
template void matmul<double>(const double*, const double*, double*, const op::MatMulDims&, bool, bool, double,
                             double);
template void matmul_backward<float>(const float*, const float*, const float*, float*, float*, const op::MatMulDims&,
                                     bool, bool, double);
template void matmul_backward<double>(const double*, const double*, const double*, double*, double*,
                                      const op::MatMulDims&, bool, bool, double);

}  // namespace tandem::ref

namespace tandem {

void ReferenceKernels::do_matmul(const Tensor& a, const Tensor& b, Tensor& out, const MatMulArgs& args) {
  const op::MatMulDims d = op::matmul_dims(a.shape(), b.shape(), args);
  ref::matmul(a.data<float>(), b.data<float>(), out.data<float>(), d, args.trans_a, args.trans_b, args.alpha,
              args.beta);
}

void ReferenceKernels::do_matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dout, Tensor& da, Tensor& db,
                                          const MatMulArgs& args) {
  const op::MatMulDims d = op::matmul_dims(a.shape(), b.shape(), args);
  ref::matmul_backward(a.data<float>(), b.data<float>(), dout.data<float>(),
                       da.defined() ? da.data<float>() : nullptr, db.defined() ? db.data<float>() : nullptr, d,
                       args.trans_a, args.trans_b, args.alpha);
}

}  // namespace tandem
