#include "ops/dropout.hpp"

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

void validate_dropout(const Tensor& x, const Tensor& out, const DropoutArgs& args) {
  throw Error("dropout: not implemented");
}

void validate_dropout_backward(const Tensor& dout, const Tensor& dx, const DropoutArgs& args) {
  throw Error("dropout_backward: not implemented");
}

}  // namespace tandem::op

namespace tandem {

void ReferenceKernels::do_dropout(const Tensor& x, Tensor& out, const DropoutArgs& args) {
  throw Error("dropout: not implemented");
}

void ReferenceKernels::do_dropout_backward(const Tensor& dout, Tensor& dx, const DropoutArgs& args) {
  throw Error("dropout_backward: not implemented");
}

}  // namespace tandem
