#include "ops/reference_kernels.hpp"

namespace tandem {

OpKernels& reference_kernels() {
  static ReferenceKernels kernels;
  return kernels;
}

}  // namespace tandem
