#include "api/options.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <system_error>
#include <vector>

#include "tandem/error.hpp"

namespace tandem::api {
namespace {

[[noreturn]] void bad_value(std::string_view key, std::string_view value, const char* want) {
  throw Error("setting \"" + std::string(key) + "\": expected " + want + ", got '" + std::string(value) + "'");
}

template <class Int>
Int parse_integer(std::string_view key, std::string_view value, const char* want) {
  Int out{};
  const char* end = value.data() + value.size();
  const auto [ptr, ec] = std::from_chars(value.data(), end, out);
  if (value.empty() || ec != std::errc{} || ptr != end) bad_value(key, value, want);
  return out;
}

double parse_number(std::string_view key, std::string_view value) {
  double out = 0;
  const char* end = value.data() + value.size();
  const auto [ptr, ec] = std::from_chars(value.data(), end, out);
  if (value.empty() || ec != std::errc{} || ptr != end) bad_value(key, value, "a number");
  return out;
}

bool parse_bool(std::string_view key, std::string_view value) {
  if (value == "true" || value == "1") return true;
  if (value == "false" || value == "0") return false;
  bad_value(key, value, "true or false");
}

std::vector<std::string> parse_list(std::string_view value) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < value.size()) {
    const std::size_t comma = std::min(value.find(',', start), value.size());
    std::string_view item = value.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    start = comma + 1;
  }
  return out;
}

// Assigns @p value to the config member it visits, parsed for that member's type.
struct Assign {
  train::TrainConfig& config;
  std::string_view key;
  std::string_view value;

  void operator()(std::string train::TrainConfig::*m) const { config.*m = std::string(value); }
  void operator()(std::int64_t train::TrainConfig::*m) const {
    config.*m = parse_integer<std::int64_t>(key, value, "an integer");
  }
  void operator()(double train::TrainConfig::*m) const { config.*m = parse_number(key, value); }
  void operator()(bool train::TrainConfig::*m) const { config.*m = parse_bool(key, value); }
  void operator()(std::uint64_t train::TrainConfig::*m) const {
    config.*m = parse_integer<std::uint64_t>(key, value, "a non-negative integer");
  }
  void operator()(std::vector<std::string> train::TrainConfig::*m) const { config.*m = parse_list(value); }
};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

}  // namespace

void apply_setting(train::TrainConfig& config, std::string_view key, std::string_view value) {
  for (const train::ConfigField& field : train::config_fields()) {
    if (key != field.key) continue;
    std::visit(Assign{config, key, value}, field.member);
    return;
  }
  throw Error("setting \"" + std::string(key) + "\": no such setting (see `tandem finetune --help`)");
}

train::TrainConfig to_train_config(const std::filesystem::path& model_dir, const TrainOptions& options) {
  train::TrainConfig c;
  c.model = model_dir.string();
  c.data = options.data.string();
  c.eval_data = options.eval_data.string();
  c.out = options.out.string();
  c.steps = options.steps;
  c.batch = options.batch;
  c.seq = options.seq;
  c.lr = options.lr;
  c.warmup = options.warmup;
  c.lora_rank = options.lora_rank;
  c.lora_alpha = options.lora_alpha;
  c.seed = options.seed;
  c.devices = join(options.scheduler.devices);
  c.policy = options.scheduler.policy;
  c.fpga_model = options.scheduler.fpga_model;
  c.trace = options.scheduler.trace_path;
  c.cpu_threads = options.scheduler.cpu_threads;
  for (const auto& [key, value] : options.extra) apply_setting(c, key, value);
  return c;
}

}  // namespace tandem::api
