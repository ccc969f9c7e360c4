#pragma once
// Shared helpers for op tests: seeded random tensors, outputs with guard zones, the
// per-op error bound, and a central-difference gradient check in double precision.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ops/op_kernels.hpp"
#include "tandem/error.hpp"
#include "tandem/tensor.hpp"

namespace tandem::test {

// A tensor of uniform values in [lo, hi) from a fixed seed.
inline Tensor random_tensor(const Shape& shape, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t = Tensor::empty(shape);
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

// An i32 tensor of uniform integers in [lo, hi].
inline Tensor random_ids(const Shape& shape, std::uint64_t seed, std::int32_t lo, std::int32_t hi) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int32_t> dist(lo, hi);
  Tensor t = Tensor::empty(shape, DType::I32);
  auto* p = t.data<std::int32_t>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

// A contiguous f32 tensor placed between two guard zones of known bit patterns, so a
// kernel that writes past either end is caught by guards_intact().
class Guarded {
 public:
  explicit Guarded(const Shape& shape, float init = 0.0f) : n_(shape.numel()) {
    whole_ = Tensor::empty(Shape{n_ + 2 * kGuard});
    float* p = whole_.data<float>();
    for (std::int64_t i = 0; i < n_ + 2 * kGuard; ++i) p[i] = kSentinel;
    view_ = whole_.narrow(0, kGuard, n_).reshape(shape);
    view_.fill(init);
  }
  // Starts from a copy of @p values (e.g. a non-zero gradient to accumulate into).
  explicit Guarded(const Tensor& values) : Guarded(values.shape()) { view_.copy_from(values); }

  Tensor& get() { return view_; }
  [[nodiscard]] bool guards_intact() const {
    const float* p = whole_.data<float>();
    for (std::int64_t i = 0; i < kGuard; ++i)
      if (p[i] != kSentinel || p[n_ + kGuard + i] != kSentinel) return false;
    return true;
  }

 private:
  static constexpr std::int64_t kGuard = 64;
  static constexpr float kSentinel = -12345.678f;
  std::int64_t n_;
  Tensor whole_, view_;
};

// Error bound of one op on one device: the normalised mean squared error
// Σ(got-ref)² / Σ ref² must not exceed nmse, and every element must satisfy
// |got-ref| <= atol + rtol·|ref|.
struct Bound {
  double nmse;
  double atol;
  double rtol;
};

// Checks @p got against @p ref under @p bound, and that got holds no NaN or Inf.
inline void expect_close(const Tensor& got, const Tensor& ref, const Bound& bound, const std::string& what) {
  ASSERT_EQ(got.shape(), ref.shape()) << what;
  const float* g = got.data<float>();
  const float* r = ref.data<float>();
  double err2 = 0, ref2 = 0;
  std::int64_t bad = 0, first_bad = -1;
  for (std::int64_t i = 0; i < got.numel(); ++i) {
    ASSERT_TRUE(std::isfinite(g[i])) << what << ": non-finite value at " << i;
    const double d = double(g[i]) - double(r[i]);
    err2 += d * d;
    ref2 += double(r[i]) * double(r[i]);
    if (std::abs(d) > bound.atol + bound.rtol * std::abs(double(r[i]))) {
      if (bad++ == 0) first_bad = i;
    }
  }
  const double nmse = ref2 > 0 ? err2 / ref2 : err2;
  EXPECT_LE(nmse, bound.nmse) << what << ": NMSE too large";
  EXPECT_EQ(bad, 0) << what << ": " << bad << " elements outside atol+rtol·|ref|, first at " << first_bad
                    << " got " << (first_bad >= 0 ? g[first_bad] : 0.f) << " ref "
                    << (first_bad >= 0 ? r[first_bad] : 0.f);
}

// Checks d/dx of a scalar loss against an analytic gradient by central differences,
// everything in double: loss() must evaluate with the current contents of @p x.
// The tolerance is relative to the largest gradient magnitude.
inline void expect_gradient(std::vector<double>& x, const std::function<double()>& loss,
                            const std::vector<double>& analytic, const std::string& what, double h = 1e-6,
                            double tol = 1e-6) {
  ASSERT_EQ(x.size(), analytic.size()) << what;
  double scale = 1e-12;
  for (double g : analytic) scale = std::max(scale, std::abs(g));
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = loss();
    x[i] = saved - h;
    const double down = loss();
    x[i] = saved;
    const double numeric = (up - down) / (2 * h);
    ASSERT_NEAR(numeric, analytic[i], tol * scale) << what << ": gradient element " << i;
  }
}

// Seeded random doubles in [lo, hi).
inline std::vector<double> random_doubles(std::size_t n, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (auto& e : v) e = dist(rng);
  return v;
}

// Σ w ⊙ y: the scalar loss whose gradient with respect to y is w.
inline double weighted_sum(const std::vector<double>& y, const std::vector<double>& w) {
  double s = 0;
  for (std::size_t i = 0; i < y.size(); ++i) s += y[i] * w[i];
  return s;
}

// The message of the tandem::Error that @p f throws, or "no error".
template <class F> std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// Expects @p f to throw a tandem::Error whose message contains @p needle.
template <class F> void expect_error(F&& f, const std::string& needle) {
  const std::string msg = error_of(f);
  EXPECT_NE(msg, "no error") << "expected an error containing: " << needle;
  EXPECT_NE(msg.find(needle), std::string::npos) << msg;
}

// Expects @p f to throw a tandem::Error whose message is exactly @p text.
template <class F> void expect_error_text(F&& f, const std::string& text) { EXPECT_EQ(error_of(f), text); }

// Same shape and the same bytes.
inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.data<float>(), b.data<float>(), a.nbytes()) == 0;
}

// The backend under test against the reference.
inline OpKernels& reference() { return reference_kernels(); }

}  // namespace tandem::test
