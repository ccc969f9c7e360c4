#include "backends/device/device_kernels.hpp"

#include <limits>
#include <string>

#include "core/faults.hpp"
#include "tandem/error.hpp"

namespace tandem::device {
namespace {

bool is_tensor(const Arg& a) {
  return a.kind == Arg::Kind::In || a.kind == Arg::Kind::Out || a.kind == Arg::Kind::InOut;
}

}  // namespace

Arg i32(std::int64_t v) {
  if (v < std::numeric_limits<std::int32_t>::min() || v > std::numeric_limits<std::int32_t>::max())
    throw Error("device kernels: kernel argument " + std::to_string(v) + " does not fit the kernels' 32-bit int");
  return {Arg::Kind::Int, nullptr, static_cast<std::int32_t>(v)};
}

void* host_pointer(const Tensor& t) {
  return t.dtype() == DType::I32 ? static_cast<void*>(const_cast<std::int32_t*>(t.data<std::int32_t>()))
                                 : static_cast<void*>(const_cast<float*>(t.data<float>()));
}

Submission::Submission(DeviceKernels& backend)
    : backend_(backend), lock_(backend.launch_mutex()), launch_(backend.begin_launch()) {}

Submission::~Submission() = default;

void Submission::count_events(std::string_view kernel, std::span<const Arg> args) {
  const std::string who = std::string(backend_.name()) + " " + std::string(kernel);
  faults::check(faults::Point::Launch, who);
  for (std::size_t index = 0; index < args.size(); ++index) {
    const Arg& a = args[index];
    if (!is_tensor(a) || !a.tensor->defined()) continue;
    auto [it, first] = seen_.try_emplace(host_pointer(*a.tensor));
    if (first) {
      const std::string arg = who + " argument " + std::to_string(index);
      faults::check(faults::Point::Allocation, arg);
      if (a.kind != Arg::Kind::Out) faults::check(faults::Point::Transfer, arg);
    }
    if (a.kind != Arg::Kind::In) it->second.writer = kernel;
  }
}

Submission& Submission::run(std::string_view family, std::string_view kernel, std::size_t groups,
                            std::initializer_list<Arg> args, std::size_t local) {
  const std::span<const Arg> list(args.begin(), args.size());
  count_events(kernel, list);
  launch_->run(family, kernel, groups, list, local);
  return *this;
}

void Submission::finish() {
  for (const auto& [host, seen] : seen_)
    if (!seen.writer.empty())
      faults::check(faults::Point::Transfer, std::string(backend_.name()) + " " + seen.writer + " result");
  launch_->finish();
}

}  // namespace tandem::device
