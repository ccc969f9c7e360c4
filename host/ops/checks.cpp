#include "ops/checks.hpp"

#include <cmath>

namespace tandem::check {

namespace {
[[noreturn]] void fail(std::string_view op, const std::string& message) {
  throw Error(std::string(op) + ": " + message);
}
}  // namespace

void that(bool ok, std::string_view op, const std::string& message) {
  if (!ok) fail(op, message);
}

void input(std::string_view op, std::string_view arg, const Tensor& t, DType dtype) {
  const std::string a(arg);
  if (!t.defined()) fail(op, a + " is undefined");
  if (t.dtype() != dtype)
    fail(op, a + " " + t.shape().str() + " has element type " + dtype_name(t.dtype()) + ", expected " + dtype_name(dtype));
  if (t.numel() == 0) fail(op, a + " " + t.shape().str() + " is empty");
  if (!t.is_contiguous()) fail(op, a + " " + t.shape().str() + " is a strided view; pass a contiguous tensor");
}

void shaped(std::string_view op, std::string_view arg, const Tensor& t, const Shape& want, DType dtype) {
  if (t.defined() && !(t.shape() == want))
    fail(op, std::string(arg) + " has shape " + t.shape().str() + ", expected " + want.str());
  input(op, arg, t, dtype);
}

void rank(std::string_view op, std::string_view arg, const Tensor& t, int r) {
  if (t.rank() != r)
    fail(op, std::string(arg) + " " + t.shape().str() + " has rank " + std::to_string(t.rank()) + ", expected " +
                 std::to_string(r));
}

void rank_between(std::string_view op, std::string_view arg, const Tensor& t, int lo, int hi) {
  if (t.rank() < lo || t.rank() > hi)
    fail(op, std::string(arg) + " " + t.shape().str() + " has rank " + std::to_string(t.rank()) + ", expected " +
                 std::to_string(lo) + " to " + std::to_string(hi));
}

void finite(std::string_view op, std::string_view arg, const Tensor& t) {
  const float* p = t.data<float>();
  for (std::int64_t i = 0, n = t.numel(); i < n; ++i)
    if (!std::isfinite(p[i])) fail(op, std::string(arg) + " " + t.shape().str() + " contains NaN or Inf");
}

}  // namespace tandem::check
