#include "backends/cpu/cpu_kernels.hpp"
#include "tandem/error.hpp"

namespace tandem {

void CpuKernels::do_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, Tensor& out, Tensor& probs, const AttentionArgs& args) {
  throw Error("attention: not implemented");
}

void CpuKernels::do_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs, const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv, const AttentionArgs& args) {
  throw Error("attention_backward: not implemented");
}

}  // namespace tandem
