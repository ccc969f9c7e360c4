// Embedding on the kernel backends (OpenCL, XRT): fpga/kernels/embedding.cl.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "backends/device/device_kernels.hpp"

namespace tandem::device {

namespace {

// The token positions of @p ids grouped by id for embedding_backward_wte: order (n) holds the
// positions stably sorted by id, start (groups + 1) where each id's run begins.
struct IdGroups {
  Tensor order, start;
  std::int64_t groups = 0;
};

IdGroups group_by_id(const Tensor& ids) {
  const std::int32_t* id = ids.data<std::int32_t>();
  const std::int32_t n = i32(ids.numel()).i;  // throws past the kernels' int range
  std::vector<std::int32_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [id](std::int32_t a, std::int32_t b) { return id[a] < id[b]; });
  std::vector<std::int32_t> start;
  for (std::int32_t k = 0; k < n; ++k)
    if (k == 0 || id[order[std::size_t(k)]] != id[order[std::size_t(k - 1)]]) start.push_back(k);
  const auto groups = static_cast<std::int64_t>(start.size());
  start.push_back(n);
  return {Tensor::from(std::span<const std::int32_t>(order), {std::int64_t{n}}),
          Tensor::from(std::span<const std::int32_t>(start), {groups + 1}), groups};
}

}  // namespace

void DeviceKernels::do_embedding(const Tensor& ids, const Tensor& wte, const Tensor& wpe, Tensor& out) {
  Submission s(*this);
  s.run("embedding", "embedding_forward", compute_units(),
        {in(ids), in(wte), in(wpe), device::out(out), i32(ids.numel()), i32(ids.dim(1)), i32(wte.dim(1)),
         i32(wpe.defined())});
  s.finish();
}

void DeviceKernels::do_embedding_backward(const Tensor& ids, const Tensor& dout, Tensor& dwte, Tensor& dwpe) {
  const std::int64_t B = ids.dim(0), T = ids.dim(1), C = dwte.dim(1);
  const IdGroups g = group_by_id(ids);  // outlives the submission, which wraps its memory
  Submission s(*this);
  s.run("embedding", "embedding_backward_wte", compute_units(),
        {in(g.order), in(g.start), in(ids), in(dout), inout(dwte), i32(g.groups), i32(C)});
  if (dwpe.defined())
    s.run("embedding", "embedding_backward_wpe", compute_units(),
          {in(dout), inout(dwpe), i32(B), i32(T), i32(C)});
  s.finish();
}

}  // namespace tandem::device
