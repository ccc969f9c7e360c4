// CPU LoRA: four thin GEMMs on the project GEMM (deterministic, parallel inside).
#include <cstdint>
#include <vector>

#include "backends/cpu/cpu_kernels.hpp"
#include "backends/cpu/gemm.hpp"

namespace tandem {

void CpuKernels::do_lora(const Tensor& x, const Tensor& a, const Tensor& b, Tensor& out, Tensor& xa,
                         const LoraArgs& args) {
  const std::int64_t n = x.shape().rows(), cin = x.dim(-1), r = a.dim(1), cout = b.dim(1);
  float* XA = xa.data<float>();
  // xa (n, r) = x · a
  cpu::sgemm(false, false, n, r, cin, 1.0f, x.data<float>(), cin, a.data<float>(), r, 0.0f, XA, r);
  // out (n, cout) += scale · xa · b
  cpu::sgemm(false, false, n, cout, r, args.scale, XA, r, b.data<float>(), cout, 1.0f, out.data<float>(), cout);
}

void CpuKernels::do_lora_backward(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& xa,
                                  const Tensor& dout, Tensor& dx, Tensor& da, Tensor& db, const LoraArgs& args) {
  const std::int64_t n = x.shape().rows(), cin = x.dim(-1), r = a.dim(1), cout = b.dim(1);
  const float* G = dout.data<float>();
  // db (r, cout) += scale · xaᵀ · dout
  cpu::sgemm(true, false, r, cout, n, args.scale, xa.data<float>(), r, G, cout, 1.0f, db.data<float>(), cout);
  // g (n, r) = scale · dout · bᵀ
  std::vector<float> g(static_cast<std::size_t>(n * r));
  cpu::sgemm(false, true, n, r, cout, args.scale, G, cout, b.data<float>(), cout, 0.0f, g.data(), r);
  // da (cin, r) += xᵀ · g
  cpu::sgemm(true, false, cin, r, n, 1.0f, x.data<float>(), cin, g.data(), r, 1.0f, da.data<float>(), r);
  // dx (n, cin) += g · aᵀ
  if (dx.defined())
    cpu::sgemm(false, true, n, cin, r, 1.0f, g.data(), r, a.data<float>(), r, 1.0f, dx.data<float>(), cin);
}

}  // namespace tandem
