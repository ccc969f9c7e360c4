#include "ops/gelu.hpp"

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

void validate_gelu(const Tensor& x, const Tensor& out, GeluKind kind) {
  throw Error("gelu: not implemented");
}

void validate_gelu_backward(const Tensor& x, const Tensor& dout, const Tensor& dx, GeluKind kind) {
  throw Error("gelu_backward: not implemented");
}

}  // namespace tandem::op

namespace tandem {

void ReferenceKernels::do_gelu(const Tensor& x, Tensor& out, GeluKind kind) {
  throw Error("gelu: not implemented");
}

void ReferenceKernels::do_gelu_backward(const Tensor& x, const Tensor& dout, Tensor& dx, GeluKind kind) {
  throw Error("gelu_backward: not implemented");
}

}  // namespace tandem
