#pragma once
// Gradient averaging across ranks, overlapped with the backward pass.
//
// The trainable parameters' gradients are grouped into buckets in reverse parameter order
// (the order backward finishes them: the last layer's gradients first), each bucket holding
// consecutive gradients up to a byte budget (a larger gradient is a bucket of its own). When
// the session reports a bucket's last gradient final, the bucket is queued on the
// communicator: packed into one buffer, summed over the ranks (in place for a one-gradient
// bucket), unpacked; all on the communication thread while backward goes on. Buckets are
// queued strictly in bucket order, however the ranks' threads finish them, so every rank
// issues the same collectives in the same order. The session then divides by ranks ×
// micro-batches (sched::Session::train_step).

#include <cstdint>
#include <future>
#include <mutex>
#include <span>
#include <vector>

#include "dist/communicator.hpp"
#include "models/model.hpp"
#include "sched/session.hpp"

namespace tandem::dist {

struct Bucket {
  std::vector<std::size_t> params;  // indices into model.parameters(), in the order backward finishes them
  std::uint64_t bytes = 0;
};

// The buckets of @p params' trainable gradients for a budget of @p bucket_bytes (> 0).
[[nodiscard]] std::vector<Bucket> plan_buckets(std::span<const models::Parameter> params, std::uint64_t bucket_bytes);

class GradientReducer final : public sched::GradientSync {
 public:
  // @p params: the model's parameters, whose gradient tensors must outlive the reducer.
  GradientReducer(Communicator& comm, std::span<models::Parameter> params, std::uint64_t bucket_bytes);

  [[nodiscard]] int replicas() const noexcept override { return comm_.size(); }
  void gradient_ready(std::size_t index) override;
  sched::SyncResult finish(double loss) override;

  [[nodiscard]] const std::vector<Bucket>& buckets() const noexcept { return buckets_; }

 private:
  void queue_ready_buckets();  // with m_ held
  void reset();

  Communicator& comm_;
  std::span<models::Parameter> params_;
  std::vector<Bucket> buckets_;
  std::vector<std::size_t> bucket_of_;     // per parameter; SIZE_MAX for frozen ones
  std::vector<std::vector<float>> buffers_;  // per bucket of several gradients: the packed gradients

  std::mutex m_;  // guards the per-step state below (gradient_ready runs on executor threads)
  std::vector<std::size_t> left_;           // per bucket: gradients not final yet
  std::vector<bool> seen_;                  // per parameter: reported this step
  std::size_t next_ = 0;                    // the next bucket to queue
  std::vector<std::future<CommTiming>> pending_;  // per queued bucket
};

}  // namespace tandem::dist
