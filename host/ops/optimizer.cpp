#include "ops/optimizer.hpp"

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

void validate_grad_norm(std::span<const Tensor> grads) {
  throw Error("grad_norm: not implemented");
}

void validate_clip_grad_norm(std::span<Tensor> grads, float max_norm) {
  throw Error("clip_grad_norm: not implemented");
}

void validate_adamw(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, const AdamWArgs& args) {
  throw Error("adamw: not implemented");
}

}  // namespace tandem::op

namespace tandem {

double ReferenceKernels::do_grad_norm(std::span<const Tensor> grads) {
  throw Error("grad_norm: not implemented");
}

void ReferenceKernels::do_scale_grads(std::span<Tensor> grads, float factor) {
  throw Error("scale_grads: not implemented");
}

void ReferenceKernels::do_adamw(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWArgs& args) {
  throw Error("adamw: not implemented");
}

}  // namespace tandem
