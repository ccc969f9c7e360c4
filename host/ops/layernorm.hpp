#pragma once
// Row-wise LayerNorm. Descriptor (validation, cost) and naive reference.
//   x (N, C) or any rank with last dim C (N = product of the others); weight, bias (C);
//   out like x; mean, rstd (N), saved for the backward pass.
//   forward:  mean[n] = Σ_c x[n,c] / C
//             rstd[n] = 1 / sqrt(Σ_c (x[n,c] - mean[n])² / C + eps)       (biased variance)
//             xhat[n,c] = (x[n,c] - mean[n]) · rstd[n]
//             out[n,c]  = xhat[n,c] · weight[c] + bias[c]
//   backward: with g[n,c] = dout[n,c] · weight[c]:
//             dx[n,c]     += rstd[n] · (g[n,c] − mean_c(g[n,:]) − xhat[n,c] · mean_c(g[n,:] ⊙ xhat[n,:]))
//             dweight[c]  += Σ_n dout[n,c] · xhat[n,c]      (skipped when undefined)
//             dbias[c]    += Σ_n dout[n,c]                  (skipped when undefined)
//   eps must be positive and finite.

#include <cstdint>

#include "ops/op_kind.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, const Tensor& out,
                        const Tensor& mean, const Tensor& rstd);
void validate_layernorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                 const Tensor& rstd, const Tensor& dx, const Tensor& dweight, const Tensor& dbias);
OpCost layernorm_cost(const Shape& x);
OpCost layernorm_backward_cost(const Shape& x, bool with_dweight, bool with_dbias);
}  // namespace tandem::op

namespace tandem::ref {
template <class T>
void layernorm(const T* x, const T* weight, const T* bias, double eps, T* out, T* mean, T* rstd, std::int64_t N,
               std::int64_t C);
// dweight / dbias may be nullptr (not needed).
template <class T>
void layernorm_backward(const T* dout, const T* x, const T* weight, const T* mean, const T* rstd, T* dx, T* dweight,
                        T* dbias, std::int64_t N, std::int64_t C);
}  // namespace tandem::ref
