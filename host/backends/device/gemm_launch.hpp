#pragma once
// One launch of gemm.cl's batched `gemm` kernel, shared by the matmul and LoRA ops.

#include <cstdint>

#include "backends/device/device_kernels.hpp"

namespace tandem::device {

// C_e = alpha · op(A_e) · op(B_e) + beta · C_e for e < batch, operands contiguous row-major;
// strides in elements, 0 = one operand for every entry (for c: a batch reduction).
struct Gemm {
  const Tensor& a;
  const Tensor& b;
  Tensor& c;
  bool ta = false, tb = false;
  std::int64_t m = 0, n = 0, k = 0;
  float alpha = 1, beta = 0;
  std::int64_t batch = 1;
  std::int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};

// Enqueues @p g on @p s (nothing when it is empty).
void run_gemm(Submission& s, const DeviceKernels& backend, const Gemm& g);

}  // namespace tandem::device
