#include "ops/pooling.hpp"

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

void validate_mean_pool(const Tensor& x, const Tensor& mask, const Tensor& out) {
  throw Error("mean_pool: not implemented");
}

void validate_mean_pool_backward(const Tensor& dout, const Tensor& mask, const Tensor& dx) {
  throw Error("mean_pool_backward: not implemented");
}

void validate_first_token_pool(const Tensor& x, const Tensor& out) {
  throw Error("first_token_pool: not implemented");
}

void validate_first_token_pool_backward(const Tensor& dout, const Tensor& dx) {
  throw Error("first_token_pool_backward: not implemented");
}

}  // namespace tandem::op

namespace tandem {

void ReferenceKernels::do_mean_pool(const Tensor& x, const Tensor& mask, Tensor& out) {
  throw Error("mean_pool: not implemented");
}

void ReferenceKernels::do_mean_pool_backward(const Tensor& dout, const Tensor& mask, Tensor& dx) {
  throw Error("mean_pool_backward: not implemented");
}

void ReferenceKernels::do_first_token_pool(const Tensor& x, Tensor& out) {
  throw Error("first_token_pool: not implemented");
}

void ReferenceKernels::do_first_token_pool_backward(const Tensor& dout, Tensor& dx) {
  throw Error("first_token_pool_backward: not implemented");
}

}  // namespace tandem
