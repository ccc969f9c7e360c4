#include "graph/task_graph.hpp"

#include <algorithm>

namespace tandem::graph {

Region region_of(const Tensor& t) {
  // From the first element to the byte after the last one, which for a strided view (a
  // column slice) lies beyond offset + nbytes.
  std::int64_t last = 0;
  for (int i = 0; i < t.rank(); ++i) last += (t.dim(i) - 1) * t.stride(i);
  const std::size_t elem = dtype_size(t.dtype());
  const std::size_t span = t.numel() == 0 ? 0 : (static_cast<std::size_t>(last) + 1) * elem;
  return {t.storage_id(), t.byte_offset(), t.byte_offset() + span};
}

namespace {

void add_unique(std::vector<TaskId>& v, TaskId id) {
  if (std::find(v.begin(), v.end(), id) == v.end()) v.push_back(id);
}

}  // namespace

void TaskGraph::link(Task& task) {
  // Reads wait for the last overlapping writer; writes also for the readers since it.
  for (const Region& r : task.reads)
    for (Access& a : accesses_[r.storage])
      if (a.region.overlaps(r) && a.has_writer) add_unique(task.deps, a.writer);
  for (const Region& w : task.writes)
    for (Access& a : accesses_[w.storage])
      if (a.region.overlaps(w)) {
        if (a.has_writer) add_unique(task.deps, a.writer);
        for (TaskId reader : a.readers) add_unique(task.deps, reader);
      }
  std::erase(task.deps, task.id);

  // Record this task's accesses: a write replaces the overlapping entries it covers fully.
  for (const Region& w : task.writes) {
    auto& list = accesses_[w.storage];
    std::erase_if(list, [&](const Access& a) { return a.region.begin >= w.begin && a.region.end <= w.end; });
    list.push_back({w, task.id, true, {}});
  }
  // A read joins the readers of the written ranges it overlaps, and is also kept as its own
  // entry, so a later write to a part no range covered yet still waits for it.
  for (const Region& r : task.reads) {
    auto& list = accesses_[r.storage];
    for (Access& a : list)
      if (a.region.overlaps(r)) add_unique(a.readers, task.id);
    list.push_back({r, 0, false, {task.id}});
  }
}

TaskId TaskGraph::add(Task task) {
  task.id = static_cast<TaskId>(tasks_.size());
  std::string shape;
  for (const Tensor& t : task.keep) shape += t.defined() ? t.shape().str() : "-";
  link(task);
  for (TaskId d : task.deps) tasks_[d].users.push_back(task.id);
  shapes_.push_back(std::move(shape));
  tasks_.push_back(std::move(task));
  return tasks_.back().id;
}

std::string TaskGraph::signature() const {
  std::string s;
  for (std::size_t i = 0; i < tasks_.size(); ++i) {
    const Task& t = tasks_[i];
    s += t.name + "@" + std::to_string(t.scope.layer) + "/" + std::string(phase_name(t.scope.phase)) + shapes_[i] + ";";
  }
  return s;
}

}  // namespace tandem::graph
