#pragma once
// Inverted dropout. Descriptor (validation, cost), the mask function and naive reference.
//   x, out, dout, dx: any shape, all equal; i is the flat (row-major) element index.
//   forward:  out[i] = keep(seed, i) ? x[i] / (1 − p) : 0
//   backward: dx[i] += keep(seed, i) ? dout[i] / (1 − p) : 0
//   p in [0, 1); p == 0 keeps everything (out = x). A dropped element is exactly 0 even
//   when x is not finite.
//
// The mask is a pure function of (seed, i), so every device and thread count draws the
// same mask and the backward pass regenerates it instead of storing it. Only 64-bit
// unsigned integer arithmetic (wrapping), shifts and xor, so an OpenCL kernel can copy it:
//   mix(z)  = splitmix64's finaliser (Steele, Lea & Flood 2014):
//             z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB;
//             z ^= z >> 31
//   key     = mix(seed ^ 0x243F6A8885A308D3)                 once a call
//   z       = mix(key + (i + 1) · 0x9E3779B97F4A7C15)         one a element
//   u       = (z >> 40) · 2⁻²⁴                               24 bits: exact in f32, in [0, 1)
//   keep    = u >= p           (equivalently (z >> 40) >= ceil(p · 2²⁴) in integers)
// The fraction dropped is ceil(p·2²⁴)/2²⁴, within 2⁻²⁴ of p.

#include <cstdint>

#include "ops/op_kind.hpp"
#include "tandem/ops.hpp"
#include "tandem/tensor.hpp"

namespace tandem::op {

void validate_dropout(const Tensor& x, const Tensor& out, const DropoutArgs& args);
void validate_dropout_backward(const Tensor& dout, const Tensor& dx, const DropoutArgs& args);
OpCost dropout_cost(const Shape& x);
OpCost dropout_backward_cost(const Shape& x);

// splitmix64's finaliser: a bijection of uint64 with good avalanche.
inline constexpr std::uint64_t dropout_mix(std::uint64_t z) {
  z ^= z >> 30;
  z *= 0xBF58476D1CE4E5B9ull;
  z ^= z >> 27;
  z *= 0x94D049BB133111EBull;
  z ^= z >> 31;
  return z;
}
// Per-call key from the seed, so different seeds give unrelated streams.
inline constexpr std::uint64_t dropout_key(std::uint64_t seed) { return dropout_mix(seed ^ 0x243F6A8885A308D3ull); }
// The uniform draw of element @p index: a multiple of 2⁻²⁴ in [0, 1).
inline constexpr float dropout_uniform(std::uint64_t key, std::uint64_t index) {
  const std::uint64_t z = dropout_mix(key + (index + 1) * 0x9E3779B97F4A7C15ull);
  return static_cast<float>(static_cast<std::uint32_t>(z >> 40)) * 0x1p-24f;
}
// Whether element @p index is kept at drop probability @p p.
inline constexpr bool dropout_keep(std::uint64_t key, std::uint64_t index, float p) {
  return dropout_uniform(key, index) >= p;
}

}  // namespace tandem::op

namespace tandem::ref {
template <class T> void dropout(const T* x, T* out, std::int64_t n, float p, std::uint64_t seed);
template <class T> void dropout_backward(const T* dout, T* dx, std::int64_t n, float p, std::uint64_t seed);
}  // namespace tandem::ref
