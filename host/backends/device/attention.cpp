// Attention on the kernel backends (OpenCL, XRT): fpga/kernels/attention.cl.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "backends/device/device_kernels.hpp"
#include "ops/attention.hpp"
#include "tandem/error.hpp"

namespace tandem::device {

namespace {

// The kernels' on-chip tiles hold at least one row of D floats (K_BUF in attention.cl).
constexpr std::int64_t kMaxHeadDim = 4096;

void check_head_dim(std::string_view backend, const op::AttentionDims& d, const char* op) {
  if (d.head_dim() > kMaxHeadDim)
    throw Error(std::string(backend) + ": " + op + ": head dim D = " + std::to_string(d.head_dim()) +
                    " exceeds the kernels' maximum of " + std::to_string(kMaxHeadDim),
                ErrorCategory::Device);
}

// Query tiles per (batch, head), as the kernels' TQ_MAX / Q_BUF choose them.
std::int64_t query_tiles(const op::AttentionDims& d) {
  const std::int64_t tq = std::min<std::int64_t>(32, 4096 / d.head_dim());
  return (d.t + tq - 1) / tq;
}

std::size_t groups_for(std::int64_t tasks, std::uint32_t compute_units) {
  return static_cast<std::size_t>(std::clamp<std::int64_t>(tasks, 1, std::max<std::int64_t>(compute_units, 1)));
}

}  // namespace

void DeviceKernels::do_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask,
                                 Tensor& out, Tensor& probs, const AttentionArgs& args) {
  const op::AttentionDims d = op::attention_dims(q.shape(), k.shape(), args);
  check_head_dim(name(), d, "attention");
  const auto scale = static_cast<float>(op::attention_scale(args, d.head_dim()));
  Submission s(*this);
  s.run("attention", "attention_forward", groups_for(d.batch * d.heads * query_tiles(d), compute_units()),
        {in(q), in(k), in(v), in(key_mask), device::out(out), device::out(probs), i32(d.batch), i32(d.t), i32(d.s),
         i32(d.c), i32(d.heads), i32(args.causal), i32(key_mask.defined()), f32(scale)});
  s.finish();
}

void DeviceKernels::do_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs,
                                          const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv,
                                          const AttentionArgs& args) {
  const op::AttentionDims d = op::attention_dims(q.shape(), k.shape(), args);
  check_head_dim(name(), d, "attention_backward");
  const auto scale = static_cast<float>(op::attention_scale(args, d.head_dim()));
  // delta (B, H, T) = rowsum(dP ⊙ P), needed by every key tile before any dS can be formed.
  Tensor delta = Tensor::empty(Shape{d.batch, d.heads, d.t}, DType::F32, Alignment::Page);
  Submission s(*this);
  s.run("attention", "attention_backward_delta",
        groups_for(d.batch * d.heads * query_tiles(d), compute_units()),
        {in(v), in(probs), in(dout), device::out(delta), i32(d.batch), i32(d.t), i32(d.s), i32(d.c), i32(d.heads),
         i32(args.causal)});
  s.run("attention", "attention_backward", groups_for(d.batch * d.heads, compute_units()),
        {in(q), in(k), in(v), in(probs), in(dout), in(delta), inout(dq), inout(dk), inout(dv), i32(d.batch),
         i32(d.t), i32(d.s), i32(d.c), i32(d.heads), i32(args.causal), f32(scale)});
  s.finish();
}

}  // namespace tandem::device
