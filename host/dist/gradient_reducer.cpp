#include "dist/gradient_reducer.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "tandem/error.hpp"

namespace tandem::dist {

std::vector<Bucket> plan_buckets(std::span<const models::Parameter> params, std::uint64_t bucket_bytes) {
  if (bucket_bytes == 0) throw Error("--allreduce-bucket-mb: the bucket size must be > 0");
  std::vector<Bucket> buckets;
  for (std::size_t k = params.size(); k-- > 0;) {
    const models::Parameter& p = params[k];
    if (!p.trainable) continue;
    const auto bytes = static_cast<std::uint64_t>(p.value.numel()) * sizeof(float);
    if (buckets.empty() || (!buckets.back().params.empty() && buckets.back().bytes + bytes > bucket_bytes))
      buckets.emplace_back();
    buckets.back().params.push_back(k);
    buckets.back().bytes += bytes;
  }
  return buckets;
}

GradientReducer::GradientReducer(Communicator& comm, std::span<models::Parameter> params, std::uint64_t bucket_bytes)
    : comm_(comm), params_(params), buckets_(plan_buckets(params, bucket_bytes)),
      bucket_of_(params.size(), std::numeric_limits<std::size_t>::max()), buffers_(buckets_.size()) {
  for (std::size_t b = 0; b < buckets_.size(); ++b) {
    for (std::size_t i : buckets_[b].params) {
      const models::Parameter& p = params_[i];
      if (!p.grad.defined() || !p.grad.is_contiguous() || p.grad.dtype() != DType::F32)
        throw Error("allreduce: the gradient of " + p.name + " is not a contiguous f32 tensor", ErrorCategory::Internal);
      bucket_of_[i] = b;
    }
    if (buckets_[b].params.size() > 1) buffers_[b].resize(buckets_[b].bytes / sizeof(float));
  }
  reset();
}

void GradientReducer::reset() {
  left_.clear();
  for (const Bucket& b : buckets_) left_.push_back(b.params.size());
  seen_.assign(params_.size(), false);
  next_ = 0;
  pending_.clear();
}

void GradientReducer::gradient_ready(std::size_t index) {
  std::lock_guard lock(m_);
  if (index >= params_.size() || bucket_of_[index] == std::numeric_limits<std::size_t>::max())
    throw Error("allreduce: parameter " + std::to_string(index) + " is not a trainable parameter", ErrorCategory::Internal);
  if (seen_[index])
    throw Error("allreduce: the gradient of " + params_[index].name + " was reported final twice in one step",
                ErrorCategory::Internal);
  seen_[index] = true;
  --left_[bucket_of_[index]];
  queue_ready_buckets();
}

void GradientReducer::queue_ready_buckets() {
  for (; next_ < buckets_.size() && left_[next_] == 0; ++next_) {
    const Bucket& bucket = buckets_[next_];
    if (bucket.params.size() == 1) {
      Tensor& g = params_[bucket.params.front()].grad;
      pending_.push_back(comm_.start_allreduce_sum({g.data<float>(), static_cast<std::size_t>(g.numel())}, {}, {}));
      continue;
    }
    std::vector<float>& buffer = buffers_[next_];
    auto each = [this, &bucket, &buffer](bool pack) {
      std::size_t offset = 0;
      for (std::size_t i : bucket.params) {
        Tensor& g = params_[i].grad;
        const auto n = static_cast<std::size_t>(g.numel());
        if (pack) std::memcpy(buffer.data() + offset, g.data<float>(), n * sizeof(float));
        else std::memcpy(g.data<float>(), buffer.data() + offset, n * sizeof(float));
        offset += n;
      }
    };
    pending_.push_back(
        comm_.start_allreduce_sum(buffer, [each] { each(true); }, [each] { each(false); }));
  }
}

sched::SyncResult GradientReducer::finish(double loss) {
  std::vector<std::future<CommTiming>> pending;
  {
    std::lock_guard lock(m_);
    for (std::size_t i = 0; i < params_.size(); ++i)
      if (bucket_of_[i] != std::numeric_limits<std::size_t>::max() && !seen_[i])
        throw Error("allreduce: the backward pass ended without the gradient of " + params_[i].name + " being final",
                    ErrorCategory::Internal);
    pending = std::move(pending_);
    reset();
  }
  sched::SyncResult result;
  for (std::size_t b = 0; b < pending.size(); ++b) {
    const CommTiming t = pending[b].get();
    result.spans.push_back({"allreduce bucket " + std::to_string(b), t.start, t.end, buckets_[b].bytes,
                            static_cast<int>(buckets_[b].params.size())});
  }
  result.loss_sum = comm_.allreduce_sum(loss);
  return result;
}

}  // namespace tandem::dist
