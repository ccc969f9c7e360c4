#include "ops/layernorm.hpp"

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

void validate_layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, const Tensor& out, const Tensor& mean, const Tensor& rstd) {
  throw Error("layernorm: not implemented");
}

void validate_layernorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd, const Tensor& dx, const Tensor& dweight, const Tensor& dbias) {
  throw Error("layernorm_backward: not implemented");
}

}  // namespace tandem::op

namespace tandem {

void ReferenceKernels::do_layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out, Tensor& mean, Tensor& rstd) {
  throw Error("layernorm: not implemented");
}

void ReferenceKernels::do_layernorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd, Tensor& dx, Tensor& dweight, Tensor& dbias) {
  throw Error("layernorm_backward: not implemented");
}

}  // namespace tandem
