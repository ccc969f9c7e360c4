#pragma once
// Matrix multiply. Descriptor (validation, cost) and naive reference.
//   forward:  out = alpha · op(a) · op(b) + beta · out      (beta == 0: out is not read)
//     a   (..., M, K), or (..., K, M) with trans_a
//     b   (..., K, N), or (..., N, K) with trans_b; same leading (batch) dims as a,
//         or rank 2 and shared by every batch entry (a linear layer's weight)
//     out (..., M, N)
//     ranks 2..4; "..." are the batch dims, batch = their product (1 for rank 2)
//   backward (beta ignored), with G = dout (..., M, N):
//     d op(a) = alpha · G · op(b)ᵀ   (M, K)  -> da += it, transposed back when trans_a
//     d op(b) = alpha · op(a)ᵀ · G   (K, N)  -> db += it, transposed back when trans_b;
//               summed over the batch when b is shared
//     da or db may be undefined (not needed).

#include <cstdint>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {

// The problem sizes of one (validated) matmul call.
struct MatMulDims {
  std::int64_t batch = 1;  // product of the leading dims of a (1 for rank 2)
  std::int64_t m = 0, n = 0, k = 0;
  bool shared_b = false;  // b is rank 2 and a is batched: b is broadcast over the batch
};

// Sizes from the shapes of a and b; assumes validate_matmul has accepted them.
MatMulDims matmul_dims(const Shape& a, const Shape& b, const MatMulArgs& args);

void validate_matmul(const Tensor& a, const Tensor& b, const Tensor& out, const MatMulArgs& args);
void validate_matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dout, const Tensor& da, const Tensor& db,
                              const MatMulArgs& args);
OpCost matmul_cost(const Shape& a, const Shape& b, const MatMulArgs& args);
OpCost matmul_backward_cost(const Shape& a, const Shape& b, const MatMulArgs& args, bool need_da, bool need_db);

}  // namespace tandem::op

namespace tandem::ref {

// out = alpha · op(a) · op(b) + beta · out for every batch entry; sums in double.
template <class T>
void matmul(const T* a, const T* b, T* out, const op::MatMulDims& d, bool trans_a, bool trans_b, double alpha,
            double beta);
// da += alpha · ∂/∂a, db += alpha · ∂/∂b; either pointer may be null (skipped).
template <class T>
void matmul_backward(const T* a, const T* b, const T* dout, T* da, T* db, const op::MatMulDims& d, bool trans_a,
                     bool trans_b, double alpha);

}  // namespace tandem::ref
