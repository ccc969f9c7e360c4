#include "ops/matmul.hpp"

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

void validate_matmul(const Tensor& a, const Tensor& b, const Tensor& out, const MatMulArgs& args) {
  throw Error("matmul: not implemented");
}

void validate_matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dout, const Tensor& da, const Tensor& db, const MatMulArgs& args) {
  throw Error("matmul_backward: not implemented");
}

}  // namespace tandem::op

namespace tandem {

void ReferenceKernels::do_matmul(const Tensor& a, const Tensor& b, Tensor& out, const MatMulArgs& args) {
  throw Error("matmul: not implemented");
}

void ReferenceKernels::do_matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dout, Tensor& da, Tensor& db, const MatMulArgs& args) {
  throw Error("matmul_backward: not implemented");
}

}  // namespace tandem
