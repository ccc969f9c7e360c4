// Optimizer ops on the kernel backends (OpenCL, XRT): fpga/kernels/optimizer.cl.
#include <cmath>
#include <cstdint>
#include <vector>

#include "backends/device/device_kernels.hpp"
#include "ops/optimizer.hpp"

namespace tandem::device {

namespace {
// Elements a partial sum of grad_sum_squares covers (SQ_BLOCK in optimizer.cl).
constexpr std::int64_t kSquaresBlock = 256;
}  // namespace

// One grad_sum_squares launch per tensor, all in one submission; the per-block f32 partials
// are added here in double, tensor by tensor and block by block, so the norm does not depend
// on the CU count.
double DeviceKernels::do_grad_norm(std::span<const Tensor> grads) {
  std::vector<Tensor> partials;
  partials.reserve(grads.size());
  for (const Tensor& g : grads) partials.push_back(Tensor::empty({(g.numel() + kSquaresBlock - 1) / kSquaresBlock}));
  {
    Submission s(*this);
    for (std::size_t k = 0; k < grads.size(); ++k)
      s.run("optimizer", "grad_sum_squares", compute_units(),
            {in(grads[k]), device::out(partials[k]), i32(grads[k].numel())});
    s.finish();
  }
  double sum = 0;
  for (const Tensor& p : partials) {
    const float* x = p.data<float>();
    for (std::int64_t i = 0; i < p.numel(); ++i) sum += double(x[i]);
  }
  return std::sqrt(sum);
}

void DeviceKernels::do_scale_grads(std::span<Tensor> grads, float factor) {
  Submission s(*this);
  for (Tensor& g : grads)
    s.run("optimizer", "grad_scale", compute_units(), {inout(g), i32(g.numel()), f32(factor)});
  s.finish();
}

// The finiteness check and the step run back to back on the device; the step skips all work
// when the check flagged a non-finite gradient, and the error is raised here afterwards, so
// param, m and v are untouched as ops/optimizer.hpp requires.
void DeviceKernels::do_adamw(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWArgs& args) {
  const std::int64_t cus = compute_units();
  const op::AdamWScalars c = op::adamw_scalars(args);
  Tensor bad = Tensor::empty({cus});
  {
    Submission s(*this);
    s.run("optimizer", "adamw_check", compute_units(), {in(grad), device::out(bad), i32(grad.numel())});
    s.run("optimizer", "adamw_step", compute_units(),
          {inout(param), in(grad), inout(m), inout(v), in(bad), i32(cus), i32(param.numel()), f32(float(c.beta1)),
           f32(float(c.one_minus_beta1)), f32(float(c.beta2)), f32(float(c.one_minus_beta2)), f32(float(c.decay)),
           f32(float(c.step_size)), f32(float(c.inv_sqrt_bc2)), f32(float(c.eps))});
    s.finish();
  }
  const float* flags = bad.data<float>();
  for (std::int64_t k = 0; k < cus; ++k)
    if (flags[k] != 0.0f) op::adamw_nonfinite_grad(grad);
}

}  // namespace tandem::device
