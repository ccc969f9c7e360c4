#pragma once
// The ops of every backend that runs the FPGA kernels of fpga/kernels: OpenCL (PoCL, Xilinx
// and Intel OpenCL platforms) and native XRT. The definitions of the ops are spread over
// host/backends/device/<family>.cpp, one file per op family, each launching the kernels of
// fpga/kernels/<family>.cl through a Submission; a runtime supplies only how a launch is
// carried out (begin_launch) and what the device looks like.

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>

#include "backends/device/launch.hpp"
#include "ops/op_kernels.hpp"

namespace tandem::device {

class DeviceKernels : public OpKernels {
 public:
  // Compute units the kernels are spread over (work-groups of a launch).
  [[nodiscard]] virtual std::uint32_t compute_units() const = 0;
  // A card running kernels from a bitstream, rather than an emulator: shapes how GEMM work
  // is split (one work-group per compute unit instead of per output tile).
  [[nodiscard]] virtual bool is_fpga() const = 0;

 protected:
  // A new Launch for one op; called with the launch lock held.
  virtual std::unique_ptr<Launch> begin_launch() = 0;
  // One op at a time per backend: kernels' arguments are shared state.
  std::mutex& launch_mutex() { return mutex_; }

  void do_embedding(const Tensor& ids, const Tensor& wte, const Tensor& wpe, Tensor& out) override;
  void do_embedding_backward(const Tensor& ids, const Tensor& dout, Tensor& dwte, Tensor& dwpe) override;
  void do_matmul(const Tensor& a, const Tensor& b, Tensor& out, const MatMulArgs& args) override;
  void do_matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dout, Tensor& da, Tensor& db,
                          const MatMulArgs& args) override;
  void do_bias_add(const Tensor& x, const Tensor& bias, Tensor& out) override;
  void do_bias_backward(const Tensor& dout, Tensor& dbias) override;
  void do_layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out, Tensor& mean,
                    Tensor& rstd) override;
  void do_layernorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean,
                             const Tensor& rstd, Tensor& dx, Tensor& dweight, Tensor& dbias) override;
  void do_gelu(const Tensor& x, Tensor& out, GeluKind kind) override;
  void do_gelu_backward(const Tensor& x, const Tensor& dout, Tensor& dx, GeluKind kind) override;
  void do_softmax(const Tensor& x, Tensor& out) override;
  void do_softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) override;
  void do_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, Tensor& out,
                    Tensor& probs, const AttentionArgs& args) override;
  void do_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs,
                             const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv,
                             const AttentionArgs& args) override;
  void do_residual_add(const Tensor& a, const Tensor& b, Tensor& out) override;
  void do_residual_add_backward(const Tensor& dout, Tensor& da, Tensor& db) override;
  void do_dropout(const Tensor& x, Tensor& out, const DropoutArgs& args) override;
  void do_dropout_backward(const Tensor& dout, Tensor& dx, const DropoutArgs& args) override;
  void do_cross_entropy(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& lse,
                        const CrossEntropyArgs& args) override;
  void do_cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse, float dloss,
                                 Tensor& dlogits, const CrossEntropyArgs& args) override;
  void do_mean_pool(const Tensor& x, const Tensor& mask, Tensor& out) override;
  void do_mean_pool_backward(const Tensor& dout, const Tensor& mask, Tensor& dx) override;
  void do_first_token_pool(const Tensor& x, Tensor& out) override;
  void do_first_token_pool_backward(const Tensor& dout, Tensor& dx) override;
  void do_lora(const Tensor& x, const Tensor& a, const Tensor& b, Tensor& out, Tensor& xa,
               const LoraArgs& args) override;
  void do_lora_backward(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& xa, const Tensor& dout,
                        Tensor& dx, Tensor& da, Tensor& db, const LoraArgs& args) override;
  double do_grad_norm(std::span<const Tensor> grads) override;
  void do_scale_grads(std::span<Tensor> grads, float factor) override;
  void do_adamw(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWArgs& args) override;

 private:
  friend class Submission;
  std::mutex mutex_;
};

}  // namespace tandem::device
