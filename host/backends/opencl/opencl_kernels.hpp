#pragma once
// The OpenCL backend: the FPGA kernels of fpga/kernels run on any OpenCL device — PoCL on
// the CPU for emulation, Xilinx and Intel FPGA platforms from prebuilt binaries. It
// implements the same OpKernels interface as the CPU backend; the definitions of the ops are
// spread over host/backends/opencl/<family>.cpp, one file per op family, each launching the
// kernels of fpga/kernels/<family>.cl through a Submission.
//
// Memory: every tensor argument becomes a buffer over the tensor's own host memory
// (CL_MEM_USE_HOST_PTR: zero-copy on CPU devices, a DMA source on cards). Inputs are migrated
// to the device with asynchronous copies, kernels run in order on one queue, and outputs are
// mapped back once at the end of the op — the only wait. Keeping tensors resident on the device
// across ops is the scheduler's job (host/sched).

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "backends/opencl/cl.hpp"
#include "backends/opencl/devices.hpp"
#include "backends/opencl/program_cache.hpp"
#include "ops/op_kernels.hpp"

namespace tandem::opencl {

struct OpenclOptions {
  std::string device = "opencl";           // "opencl" or "opencl:N"
  std::filesystem::path kernel_dir;        // empty: the kernels built into the library
  std::filesystem::path cache_dir = ProgramCache::default_dir();  // empty: no disk cache
  std::filesystem::path bitstream_dir = "bitstreams";  // FPGA platforms: <dir>/<device>/manifest.json
};

class OpenclKernels final : public OpKernels {
 public:
  explicit OpenclKernels(const OpenclOptions& options = {});
  ~OpenclKernels() override;

  // "opencl:N"
  [[nodiscard]] std::string_view name() const override { return name_; }
  [[nodiscard]] const DeviceInfo& device() const { return device_; }
  [[nodiscard]] const ProgramCache& programs() const { return cache_; }
  // Builds the program of @p family now rather than at its first launch, so a compile error
  // surfaces here (the kernel author's tool does this for every family).
  void build(std::string_view family);

 protected:
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
  cl::Kernel& kernel(std::string_view family, std::string_view name);
  cl::Program& program(std::string_view family);

  OpenclOptions options_;
  DeviceInfo device_;
  std::string name_;
  cl::Context context_;
  cl::CommandQueue queue_;
  ProgramCache cache_;
  std::map<std::string, cl::Program, std::less<>> programs_;
  std::map<std::string, cl::Kernel, std::less<>> kernels_;
  cl::Buffer dummy_;   // bound where a kernel's optional tensor argument is absent
  std::mutex mutex_;   // one op at a time: kernels' arguments are shared state
};

// One argument of a kernel launch. Tensor arguments say how the kernel uses them, so the
// submission knows what to copy to the device (In, InOut) and back (Out, InOut). An undefined
// tensor binds a small dummy buffer; the kernel must be told by a flag not to touch it.
struct Arg {
  enum class Kind { In, Out, InOut, Int, Float, ULong };
  Kind kind;
  const Tensor* tensor = nullptr;
  std::int32_t i = 0;
  float f = 0;
  std::uint64_t u = 0;
};
inline Arg in(const Tensor& t) { return {Arg::Kind::In, &t}; }
inline Arg out(Tensor& t) { return {Arg::Kind::Out, &t}; }
inline Arg inout(Tensor& t) { return {Arg::Kind::InOut, &t}; }
// Sizes and indices go to kernels as int; larger values are an error, not a wrap-around.
Arg i32(std::int64_t v);
inline Arg f32(float v) { return {Arg::Kind::Float, nullptr, 0, v}; }
inline Arg u64(std::uint64_t v) { return {Arg::Kind::ULong, nullptr, 0, 0, v}; }

// The kernels of one op: launches enqueued in order on the backend's queue, each tensor
// wrapped once, inputs migrated asynchronously, outputs mapped back by finish(). If an error
// stops the op before finish(), the destructor waits for the queue so no kernel writes a
// tensor after the caller has let it go.
class Submission {
 public:
  explicit Submission(OpenclKernels& backend);
  ~Submission();
  Submission(const Submission&) = delete;
  Submission& operator=(const Submission&) = delete;

  // Enqueues @p kernel of fpga/kernels/@p family.cl as @p groups work-groups of @p local
  // work-items (1 = a single-work-item kernel; each work-group is one compute-unit instance
  // and reads its index from get_group_id(0)).
  Submission& run(std::string_view family, std::string_view kernel, std::size_t groups, std::initializer_list<Arg> args,
                  std::size_t local = 1);
  // Makes every written tensor's host memory current and waits for the device.
  void finish();

 private:
  struct Wrapped {
    cl::Buffer buffer;
    bool on_device = false;
    bool written = false;
  };
  cl::Buffer& bind(const Arg& arg, const cl::Kernel& kernel, cl_uint index, std::string_view kernel_name);

  OpenclKernels& backend_;
  std::lock_guard<std::mutex> lock_;
  std::map<const void*, Wrapped> buffers_;
  std::vector<cl::Event> copies_;  // migrations the next kernel must wait for
  bool finished_ = false;
};

}  // namespace tandem::opencl
