#include "ops/bias.hpp"

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

void validate_bias_add(const Tensor& x, const Tensor& bias, const Tensor& out) {
  throw Error("bias_add: not implemented");
}

void validate_bias_backward(const Tensor& dout, const Tensor& dbias) {
  throw Error("bias_backward: not implemented");
}

}  // namespace tandem::op

namespace tandem {

void ReferenceKernels::do_bias_add(const Tensor& x, const Tensor& bias, Tensor& out) {
  throw Error("bias_add: not implemented");
}

void ReferenceKernels::do_bias_backward(const Tensor& dout, Tensor& dbias) {
  throw Error("bias_backward: not implemented");
}

}  // namespace tandem
