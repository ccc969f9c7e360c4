#pragma once
// How the op families of a kernel-launching backend (OpenCL, XRT) start kernels: a list of
// Args per launch, a runtime-specific Launch that carries them out, and the Submission the
// family files (host/backends/device/<family>.cpp) write their ops with.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "tandem/tensor.hpp"

namespace tandem::device {

class DeviceKernels;

// One argument of a kernel launch. Tensor arguments say how the kernel uses them, so the
// launch knows what to copy to the device (In, InOut) and back (Out, InOut). An undefined
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

// The host memory a tensor argument wraps (its first element), whatever its dtype.
void* host_pointer(const Tensor& t);

// The kernels of one op on one runtime, launched in order. Implementations wrap each tensor
// once per launch object and make written tensors' host memory current in finish(); if an
// error stops the op before finish(), their destructor waits for the device so no kernel
// writes a tensor after the caller has let it go.
class Launch {
 public:
  Launch() = default;
  virtual ~Launch() = default;
  Launch(const Launch&) = delete;
  Launch& operator=(const Launch&) = delete;

  // Starts @p kernel of fpga/kernels/@p family.cl as @p groups work-groups of @p local
  // work-items (1 = a single-work-item kernel; each work-group is one compute-unit instance
  // and reads its index from get_group_id(0)).
  virtual void run(std::string_view family, std::string_view kernel, std::size_t groups, std::span<const Arg> args,
                   std::size_t local) = 0;
  // Makes every written tensor's host memory current and waits for the device.
  virtual void finish() = 0;
};

// One op's launches on a backend: holds the backend's launch lock and its Launch, and
// counts the fault-injection events (core/faults.hpp) of both runtimes in one place. A
// tensor's first use in a submission is one allocation and, unless it is an output only, one
// host->device transfer; each written tensor is one device->host transfer in finish().
class Submission {
 public:
  explicit Submission(DeviceKernels& backend);
  ~Submission();
  Submission(const Submission&) = delete;
  Submission& operator=(const Submission&) = delete;

  Submission& run(std::string_view family, std::string_view kernel, std::size_t groups, std::initializer_list<Arg> args,
                  std::size_t local = 1);
  void finish();

 private:
  struct Seen {
    std::string writer;  // the last kernel that wrote the tensor; empty: only read
  };
  void count_events(std::string_view kernel, std::span<const Arg> args);

  DeviceKernels& backend_;
  std::lock_guard<std::mutex> lock_;
  std::unique_ptr<Launch> launch_;  // destroyed (and so waited for) before the lock is let go
  std::map<const void*, Seen> seen_;
};

}  // namespace tandem::device
