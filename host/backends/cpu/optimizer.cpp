#include "backends/cpu/cpu_kernels.hpp"
#include "tandem/error.hpp"

namespace tandem {

double CpuKernels::do_grad_norm(std::span<const Tensor> grads) {
  throw Error("grad_norm: not implemented");
}

void CpuKernels::do_scale_grads(std::span<Tensor> grads, float factor) {
  throw Error("scale_grads: not implemented");
}

void CpuKernels::do_adamw(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWArgs& args) {
  throw Error("adamw: not implemented");
}

}  // namespace tandem
