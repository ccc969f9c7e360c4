#include "backends/cpu/cpu_kernels.hpp"

namespace tandem {

OpKernels& cpu_kernels() {
  static CpuKernels kernels;
  return kernels;
}

}  // namespace tandem
