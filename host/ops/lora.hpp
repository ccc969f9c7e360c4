#pragma once
// LoRA low-rank update. Descriptor (validation, cost) and naive reference.
//   forward:  xa = x · a                     x (..., Cin) with N rows, a (Cin, r), xa (N, r)
//             out += scale · xa · b          b (r, Cout), out (..., Cout): ADDED INTO, since
//                                            out already holds the frozen linear's output
//   backward: db += scale · xaᵀ · dout       db (r, Cout), dout (..., Cout)
//             g   = scale · dout · bᵀ        (N, r), a temporary
//             da += xᵀ · g                   da (Cin, r)
//             dx += g · aᵀ                   dx (..., Cin), may be undefined

#include <cstdint>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_lora(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& out, const Tensor& xa,
                   const LoraArgs& args);
void validate_lora_backward(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& xa, const Tensor& dout,
                            const Tensor& dx, const Tensor& da, const Tensor& db, const LoraArgs& args);
// n rows, cin input channels, rank r, cout output channels.
OpCost lora_cost(std::int64_t n, std::int64_t cin, std::int64_t r, std::int64_t cout);
OpCost lora_backward_cost(std::int64_t n, std::int64_t cin, std::int64_t r, std::int64_t cout, bool need_dx);
}  // namespace tandem::op

namespace tandem::ref {
// xa = x·a; out += scale·xa·b (the product with b uses the unrounded x·a).
template <class T>
void lora(const T* x, const T* a, const T* b, T* out, T* xa, std::int64_t n, std::int64_t cin, std::int64_t r,
          std::int64_t cout, double scale);
// db, da, dx += ... as above; dx may be null.
template <class T>
void lora_backward(const T* x, const T* a, const T* b, const T* xa, const T* dout, T* dx, T* da, T* db,
                   std::int64_t n, std::int64_t cin, std::int64_t r, std::int64_t cout, double scale);
}  // namespace tandem::ref
