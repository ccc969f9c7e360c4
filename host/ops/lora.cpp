#include "ops/lora.hpp"

#include "ops/checks.hpp"
#include "ops/reference_kernels.hpp"

namespace tandem::op {

void validate_lora(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& out, const Tensor& xa, const LoraArgs& args) {
  throw Error("lora: not implemented");
}

void validate_lora_backward(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& xa, const Tensor& dout, const Tensor& dx, const Tensor& da, const Tensor& db, const LoraArgs& args) {
  throw Error("lora_backward: not implemented");
}

}  // namespace tandem::op

namespace tandem {

void ReferenceKernels::do_lora(const Tensor& x, const Tensor& a, const Tensor& b, Tensor& out, Tensor& xa, const LoraArgs& args) {
  throw Error("lora: not implemented");
}

void ReferenceKernels::do_lora_backward(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& xa, const Tensor& dout, Tensor& dx, Tensor& da, Tensor& db, const LoraArgs& args) {
  throw Error("lora_backward: not implemented");
}

}  // namespace tandem
