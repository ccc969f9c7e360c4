#include "backends/cpu/cpu_kernels.hpp"
#include "tandem/error.hpp"

namespace tandem {

void CpuKernels::do_softmax(const Tensor& x, Tensor& out) {
  throw Error("softmax: not implemented");
}

void CpuKernels::do_softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  throw Error("softmax_backward: not implemented");
}

}  // namespace tandem
