#include "sched/rules.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>

#include "tandem/error.hpp"

namespace tandem::sched {

namespace {

const std::map<std::string, std::vector<std::string>>& groups() {
  static const std::map<std::string, std::vector<std::string>> g = {
      {"gemm", {"matmul", "matmul_backward", "lora", "lora_backward"}},
      {"attention", {"attention", "attention_backward"}},
      {"norm", {"layernorm", "layernorm_backward"}},
      {"elementwise",
       {"bias_add", "bias_backward", "gelu", "gelu_backward", "residual_add", "residual_add_backward", "dropout",
        "dropout_backward", "softmax", "softmax_backward"}},
      {"embedding", {"embedding", "embedding_backward"}},
      {"loss", {"cross_entropy", "cross_entropy_backward"}},
      {"pooling", {"mean_pool", "mean_pool_backward", "first_token_pool", "first_token_pool_backward"}},
      {"optimizer", {"adamw"}},
  };
  return g;
}

bool is_op_name(const std::string& name) {
  for (int k = 0; k <= static_cast<int>(OpKind::Host); ++k)
    if (op_name(static_cast<OpKind>(k)) == name) return true;
  return false;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep)) parts.push_back(part);
  if (!s.empty() && s.back() == sep) parts.emplace_back();
  return parts;
}

class LineParser {
 public:
  LineParser(const std::string& file, int line) : where_(file + ":" + std::to_string(line) + ": ") {}

  [[noreturn]] void fail(const std::string& what) const { throw Error(where_ + what, ErrorCategory::Io); }

  int number(const std::string& s) const {
    int v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v < 0) fail("'" + s + "' is not a layer number");
    return v;
  }

  void ops(const std::string& value, Rule& rule) const {
    for (const std::string& name : split(value, ',')) {
      const std::vector<std::string> names = expand_op_group(name);
      if (names.empty()) fail("unknown op or group '" + name + "'");
      rule.ops.insert(names.begin(), names.end());
    }
  }

  void layers(const std::string& value, Rule& rule) const {
    for (const std::string& item : split(value, ',')) {
      if (item == "none") {
        rule.layers.emplace_back(-1, -1);
        continue;
      }
      const auto dash = item.find('-');
      const int lo = number(item.substr(0, dash));
      const int hi = dash == std::string::npos ? lo : number(item.substr(dash + 1));
      if (hi < lo) fail("layer range '" + item + "' is empty");
      rule.layers.emplace_back(lo, hi);
    }
  }

  void phases(const std::string& value, Rule& rule) const {
    for (const std::string& p : split(value, ',')) {
      if (p == "forward") rule.phases.insert(Phase::Forward);
      else if (p == "backward") rule.phases.insert(Phase::Backward);
      else if (p == "optimizer") rule.phases.insert(Phase::Optimizer);
      else fail("unknown phase '" + p + "' (forward, backward, optimizer)");
    }
  }

  // "cpu", or a device kind ("opencl", "xrt") optionally with ":N"; a bare kind means N = 0.
  void device(const std::string& spec, Rule& rule) const {
    for (const std::string kind : {"opencl", "xrt"}) {
      if (spec == kind) {
        rule.device = kind + ":0";
        return;
      }
      const std::string prefix = kind + ":";
      if (spec.rfind(prefix, 0) == 0 && spec.size() > prefix.size() &&
          std::all_of(spec.begin() + static_cast<std::ptrdiff_t>(prefix.size()), spec.end(), ::isdigit)) {
        rule.device = spec;
        return;
      }
    }
    if (spec != "cpu") fail("unknown device '" + spec + "' (cpu, opencl, opencl:N, xrt, xrt:N)");
    rule.device = spec;
  }

 private:
  std::string where_;
};

Rule parse_rule(const std::string& body, const std::string& file, int line) {
  const LineParser p(file, line);
  Rule rule;
  rule.line = line;
  const auto arrow = body.find("->");
  if (arrow == std::string::npos) p.fail("expected 'selectors -> device'");
  std::istringstream target(body.substr(arrow + 2));
  std::string spec, extra;
  if (!(target >> spec)) p.fail("no device after '->'");
  if (target >> extra) p.fail("unexpected '" + extra + "' after the device");
  p.device(spec, rule);

  std::istringstream selectors(body.substr(0, arrow));
  std::set<std::string> seen;
  for (std::string word; selectors >> word;) {
    const auto eq = word.find('=');
    if (eq == std::string::npos || eq + 1 == word.size()) p.fail("expected key=value, got '" + word + "'");
    const std::string key = word.substr(0, eq), value = word.substr(eq + 1);
    if (!seen.insert(key).second) p.fail("'" + key + "' given twice");
    if (value == "*") continue;
    if (key == "ops") p.ops(value, rule);
    else if (key == "layers") p.layers(value, rule);
    else if (key == "phases") p.phases(value, rule);
    else p.fail("unknown selector '" + key + "' (ops, layers, phases)");
  }
  return rule;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

}  // namespace

std::vector<std::string> expand_op_group(const std::string& name) {
  if (auto it = groups().find(name); it != groups().end()) return it->second;
  if (is_op_name(name)) return {name};
  return {};
}

bool Rule::matches(const graph::Task& task) const {
  if (!ops.empty() && !ops.contains(std::string(op_name(task.kind)))) return false;
  if (!phases.empty() && !phases.contains(task.scope.phase)) return false;
  if (layers.empty()) return true;
  return std::any_of(layers.begin(), layers.end(),
                     [&](const auto& r) { return task.scope.layer >= r.first && task.scope.layer <= r.second; });
}

const Rule* Rules::match(const graph::Task& task) const {
  for (auto it = rules.rbegin(); it != rules.rend(); ++it)
    if (it->matches(task)) return &*it;
  return nullptr;
}

Rules parse_rules(const std::string& text, const std::string& file) {
  Rules out;
  out.file = file;
  std::istringstream in(text);
  int line = 0;
  for (std::string raw; std::getline(in, raw);) {
    ++line;
    const std::string body = trim(raw.substr(0, raw.find('#')));
    if (body.empty()) continue;
    out.rules.push_back(parse_rule(body, file, line));
    out.rules.back().text = body;
  }
  return out;
}

Rules load_rules(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(path.string() + ": cannot open the rules file", ErrorCategory::Io);
  std::ostringstream text;
  text << in.rdbuf();
  return parse_rules(text.str(), path.string());
}

}  // namespace tandem::sched
