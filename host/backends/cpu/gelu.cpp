#include "backends/cpu/cpu_kernels.hpp"
#include "tandem/error.hpp"

namespace tandem {

void CpuKernels::do_gelu(const Tensor& x, Tensor& out, GeluKind kind) {
  throw Error("gelu: not implemented");
}

void CpuKernels::do_gelu_backward(const Tensor& x, const Tensor& dout, Tensor& dx, GeluKind kind) {
  throw Error("gelu_backward: not implemented");
}

}  // namespace tandem
