#pragma once
// One training step as a DAG of tasks. Each task is one op call (or a piece of host work)
// with the tensors it reads and writes, its cost, its layer and phase, and a closure that
// runs it on whichever backend the scheduler picks. Dependencies come from the tensors:
// a task depends on the last writer of every byte range it reads or writes, and a writer
// also on the readers since that write (read-after-write, write-after-write,
// write-after-read).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ops/op_kernels.hpp"
#include "ops/op_kind.hpp"
#include "tandem/tensor.hpp"

namespace tandem::graph {

// The bytes of one tensor: a range of one storage buffer.
struct Region {
  const void* storage = nullptr;
  std::size_t begin = 0, end = 0;
  [[nodiscard]] bool overlaps(const Region& o) const noexcept {
    return storage == o.storage && begin < o.end && o.begin < end;
  }
  [[nodiscard]] std::size_t bytes() const noexcept { return end - begin; }
};
Region region_of(const Tensor& t);

using TaskId = std::uint32_t;

struct Task {
  TaskId id = 0;
  OpKind kind = OpKind::MatMul;
  bool host_only = false;  // host work (no device kernel exists): always on the CPU
  std::string name;        // op_name(kind), or the host work's name
  Scope scope;
  OpCost cost;
  std::vector<Region> reads, writes;  // writes of accumulating ops are also read
  std::vector<Tensor> keep;           // the tensors, alive while the graph is
  std::function<void(OpKernels&)> run;
  std::vector<TaskId> deps;           // tasks that must finish first
  std::vector<TaskId> users;          // tasks that wait for this one
};

class TaskGraph {
 public:
  // Appends a task and links it to the earlier tasks it conflicts with. Returns its id.
  TaskId add(Task task);
  [[nodiscard]] const std::vector<Task>& tasks() const noexcept { return tasks_; }
  [[nodiscard]] std::size_t size() const noexcept { return tasks_.size(); }
  [[nodiscard]] const Task& operator[](TaskId id) const { return tasks_[id]; }
  // The op kinds, names, scopes and tensor shapes in order: equal signatures have the same
  // structure, so a placement computed for one applies to the other.
  [[nodiscard]] std::string signature() const;

 private:
  // Per storage buffer: the written ranges with their last writer and the readers since.
  struct Access {
    Region region;
    TaskId writer;
    bool has_writer;
    std::vector<TaskId> readers;
  };
  void link(Task& task);

  std::vector<Task> tasks_;
  std::map<const void*, std::vector<Access>> accesses_;
  std::vector<std::string> shapes_;  // per task, for the signature
};

}  // namespace tandem::graph
