#include "ops/softmax.hpp"

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

void validate_softmax(const Tensor& x, const Tensor& out) {
  throw Error("softmax: not implemented");
}

void validate_softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx) {
  throw Error("softmax_backward: not implemented");
}

}  // namespace tandem::op

namespace tandem {

void ReferenceKernels::do_softmax(const Tensor& x, Tensor& out) {
  throw Error("softmax: not implemented");
}

void ReferenceKernels::do_softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  throw Error("softmax_backward: not implemented");
}

}  // namespace tandem
