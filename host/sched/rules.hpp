#pragma once
// Placement rules files (format in docs/scheduler.md). One rule per line:
//
//   ops=gemm,gelu layers=6-11 phases=forward,backward -> opencl:0
//
// Every selector is optional (absent: any); the last rule matching a task wins; '#' starts
// a comment. A malformed line is an Io error naming file:line.

#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "graph/task_graph.hpp"
#include "ops/op_kind.hpp"

namespace tandem::sched {

struct Rule {
  int line = 0;                      // in the file, for reasons and errors
  std::string text;                  // the line as written, without the comment
  std::set<std::string> ops;         // op names (groups expanded); empty: any
  std::vector<std::pair<int, int>> layers;  // inclusive ranges; -1 is "none" (outside layers); empty: any
  std::set<Phase> phases;            // empty: any
  std::string device;                // a device spec: "cpu", "opencl:0", "xrt:0" ("opencl" means opencl:0)

  [[nodiscard]] bool matches(const graph::Task& task) const;
};

struct Rules {
  std::string file;  // where they came from, for messages
  std::vector<Rule> rules;
  // The last rule matching @p task, or nullptr.
  [[nodiscard]] const Rule* match(const graph::Task& task) const;
};

// Parses rules text; @p file names it in errors ("file:line: ...").
Rules parse_rules(const std::string& text, const std::string& file);
// Reads and parses a rules file; a missing file is an Io error naming it.
Rules load_rules(const std::filesystem::path& path);

// The op names a group or op name stands for: "gemm" -> matmul, matmul_backward, lora,
// lora_backward. Empty when @p name is neither.
std::vector<std::string> expand_op_group(const std::string& name);

}  // namespace tandem::sched
