#include "backends/cpu/cpu_kernels.hpp"
#include "tandem/error.hpp"

namespace tandem {

void CpuKernels::do_lora(const Tensor& x, const Tensor& a, const Tensor& b, Tensor& out, Tensor& xa, const LoraArgs& args) {
  throw Error("lora: not implemented");
}

void CpuKernels::do_lora_backward(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& xa, const Tensor& dout, Tensor& dx, Tensor& da, Tensor& db, const LoraArgs& args) {
  throw Error("lora_backward: not implemented");
}

}  // namespace tandem
