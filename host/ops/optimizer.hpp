#pragma once
// Optimizer ops: global gradient norm, gradient clipping and the AdamW step. Descriptor
// (validation, cost) and naive reference.
//
//   grad_norm(grads):   ‖g‖ = sqrt(Σ_tensors Σ_i g_i²), accumulated in double. grads: a
//                       non-empty list of f32 contiguous non-empty tensors of any shapes.
//   clip_grad_norm(grads, max_norm): norm = grad_norm(grads); non-finite norm is an error
//                       and changes nothing; if norm > max_norm every g *= max_norm/(norm+1e-6)
//                       (scale_grads). max_norm finite and > 0. Returns the norm before clipping.
//                       (The composition lives in OpKernels::clip_grad_norm.)
//   adamw(param, grad, m, v, args): param, grad, m, v all f32 of one shape (any rank), t = step:
//       m ← β1·m + (1−β1)·g
//       v ← β2·v + (1−β2)·g²
//       m̂ = m / (1−β1^t),  v̂ = v / (1−β2^t)
//       p ← p − lr·(m̂ / (√v̂ + eps) + wd·p)      (decoupled weight decay, using the old p)
//     in PyTorch's order (torch/optim/adamw.py, _single_tensor_adamw):
//       param.mul_(1 - lr * weight_decay)
//       exp_avg.lerp_(grad, 1 - beta1); exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
//       denom = (exp_avg_sq.sqrt() / sqrt(bias_correction2)).add_(eps)
//       param.addcdiv_(exp_avg, denom, value=-lr / bias_correction1)
//     i.e. p ← p·(1 − lr·wd) − (lr/bc1) · m / (√v/√bc2 + eps), which is the formula above.
//     Arguments: lr finite >= 0, β1 and β2 in [0, 1), eps finite > 0, wd finite >= 0, step >= 1;
//     param, grad, m and v must not overlap in memory. A grad holding NaN or Inf is an error
//     ("adamw: grad <shape> contains NaN or Inf") that leaves param, m and v untouched: the
//     backends detect it in a read-only pre-pass over grad before writing anything (4 extra
//     bytes per parameter on top of the 28 the step itself moves, i.e. +14% traffic; a fused
//     detect-while-writing pass could not leave the tensors untouched).

#include <cstdint>
#include <span>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {
void validate_grad_norm(std::span<const Tensor> grads);
void validate_clip_grad_norm(std::span<Tensor> grads, float max_norm);
void validate_adamw(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, const AdamWArgs& args);

// Costs for @p n elements in total (over all gradient tensors, or of the parameter).
OpCost grad_norm_cost(std::int64_t n);
// The norm pass plus the scaling pass (charged as if clipping happens).
OpCost clip_grad_norm_cost(std::int64_t n);
// read p, g, m, v and write p, m, v: 28 bytes per parameter.
OpCost adamw_cost(std::int64_t n);

// The per-step scalars of AdamW, computed in double from the arguments, shared by backends.
struct AdamWScalars {
  double beta1, one_minus_beta1;
  double beta2, one_minus_beta2;
  double decay;          // 1 − lr·wd
  double step_size;      // lr / (1 − β1^t)
  double inv_sqrt_bc2;   // 1 / sqrt(1 − β2^t)
  double eps;
};
AdamWScalars adamw_scalars(const AdamWArgs& args);

// The error every backend raises when grad holds NaN or Inf.
[[noreturn]] void adamw_nonfinite_grad(const Tensor& grad);
}  // namespace tandem::op

namespace tandem::ref {
// Σ x_i² in double.
template <class T> double sum_squares(const T* x, std::int64_t n);
// x *= factor.
template <class T> void scale(T* x, std::int64_t n, T factor);
// One AdamW step over n elements, in double, in PyTorch's order (see above). Assumes a finite grad.
template <class T> void adamw(T* param, const T* grad, T* m, T* v, std::int64_t n, const AdamWArgs& args);
}  // namespace tandem::ref
