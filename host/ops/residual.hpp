#pragma once
// Residual connection. Descriptor (validation, cost) and naive reference.
//   forward:  out = a + b                 a, b, out: any shape, all equal
//   backward: da += dout; db += dout

#include <cstdint>

#include "ops/op_kind.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_residual_add(const Tensor& a, const Tensor& b, const Tensor& out);
void validate_residual_add_backward(const Tensor& dout, const Tensor& da, const Tensor& db);
OpCost residual_add_cost(const Shape& x);
OpCost residual_add_backward_cost(const Shape& x);
}  // namespace tandem::op

namespace tandem::ref {
template <class T> void residual_add(const T* a, const T* b, T* out, std::int64_t n);
template <class T> void residual_add_backward(const T* dout, T* da, T* db, std::int64_t n);
}  // namespace tandem::ref
