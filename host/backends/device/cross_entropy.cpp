// Cross entropy on the kernel backends (OpenCL, XRT): fpga/kernels/cross_entropy.cl.
#include <cstdint>

#include "backends/device/device_kernels.hpp"
#include "ops/cross_entropy.hpp"

namespace tandem::device {

void DeviceKernels::do_cross_entropy(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& lse,
                                     const CrossEntropyArgs& args) {
  const std::int64_t n = logits.dim(0), v = logits.dim(1);
  Tensor status = Tensor::empty({1});  // 1 when a row held a NaN or Inf
  Submission s(*this);
  s.run("cross_entropy", "cross_entropy_rows", compute_units(), {in(logits), out(lse), i32(n), i32(v)});
  s.run("cross_entropy", "cross_entropy_total", 1,
        {in(logits), in(targets), in(lse), out(loss), out(status), i32(n), i32(v), i32(args.ignore_index)});
  s.finish();
  if (status.data<float>()[0] != 0.0f) op::cross_entropy_nonfinite_logits(n, v);
}

void DeviceKernels::do_cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse,
                                              float dloss, Tensor& dlogits, const CrossEntropyArgs& args) {
  const std::int64_t n = logits.dim(0), v = logits.dim(1);
  const std::int32_t* t = targets.data<std::int32_t>();
  std::int64_t count = 0;
  for (std::int64_t i = 0; i < n; ++i) count += t[i] != args.ignore_index;
  if (count == 0) return;
  const auto scale = static_cast<float>(double(dloss) / double(count));
  Submission s(*this);
  s.run("cross_entropy", "cross_entropy_backward", compute_units(),
        {in(logits), in(targets), in(lse), inout(dlogits), i32(n), i32(v), i32(args.ignore_index), f32(scale)});
  s.finish();
}

}  // namespace tandem::device
