#include "train/metrics.hpp"

#include <cmath>
#include <limits>

#include "tandem/error.hpp"

namespace tandem::train {

nlohmann::json to_json(const StepMetrics& m) {
  nlohmann::json devices = nlohmann::json::array();
  for (const DeviceShare& d : m.devices)
    devices.push_back({{"device", d.device}, {"busy_share", d.busy_share}, {"flop_share", d.flop_share}});
  nlohmann::json j = {{"step", m.step},           {"loss", m.loss},         {"lr", m.lr},
                      {"grad_norm", m.grad_norm}, {"tokens", m.tokens},     {"tokens_per_s", m.tokens_per_s},
                      {"step_ms", m.step_ms},     {"skipped", m.skipped},   {"devices", devices}};
  // JSON has no NaN: a non-finite loss is written as null.
  if (!std::isfinite(m.loss)) j["loss"] = nullptr;
  if (!std::isfinite(m.grad_norm)) j["grad_norm"] = nullptr;
  j["eval_loss"] = m.eval_loss ? nlohmann::json(*m.eval_loss) : nlohmann::json(nullptr);
  return j;
}

namespace {

double number_or_nan(const nlohmann::json& j, const char* key) {
  const nlohmann::json& v = j.at(key);
  return v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>();
}

}  // namespace

StepMetrics metrics_from_json(const nlohmann::json& j, const std::string& where) {
  try {
    StepMetrics m;
    m.step = j.at("step").get<std::int64_t>();
    m.loss = number_or_nan(j, "loss");
    m.lr = j.at("lr").get<double>();
    m.grad_norm = number_or_nan(j, "grad_norm");
    m.tokens = j.at("tokens").get<std::int64_t>();
    m.tokens_per_s = j.at("tokens_per_s").get<double>();
    m.step_ms = j.at("step_ms").get<double>();
    m.skipped = j.at("skipped").get<bool>();
    if (j.contains("eval_loss") && !j.at("eval_loss").is_null()) m.eval_loss = j.at("eval_loss").get<double>();
    for (const nlohmann::json& d : j.at("devices"))
      m.devices.push_back({d.at("device").get<std::string>(), d.at("busy_share").get<double>(),
                           d.at("flop_share").get<double>()});
    return m;
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": bad step metrics: " + e.what(), ErrorCategory::Io);
  }
}

std::vector<DeviceShare> device_shares(const std::vector<GraphRun>& graphs) {
  std::vector<DeviceShare> out;
  double wall = 0;
  double flops = 0;
  std::vector<double> busy, device_flops;
  for (const GraphRun& g : graphs) {
    wall += g.summary->wall_ms;
    flops += g.flops;
    for (std::size_t d = 0; d < g.summary->devices.size(); ++d) {
      if (out.size() <= d) {
        out.push_back({g.summary->devices[d].spec, 0, 0});
        busy.push_back(0);
        device_flops.push_back(0);
      }
      busy[d] += g.summary->devices[d].busy_ms;
      device_flops[d] += g.summary->devices[d].flop_share * g.flops;
    }
  }
  for (std::size_t d = 0; d < out.size(); ++d) {
    out[d].busy_share = wall > 0 ? busy[d] / wall : 0;
    out[d].flop_share = flops > 0 ? device_flops[d] / flops : 0;
  }
  return out;
}

double total_flops(const graph::TaskGraph& graph) {
  double sum = 0;
  for (const graph::Task& t : graph.tasks()) sum += t.cost.flops;
  return sum;
}

MetricsWriter::MetricsWriter(const std::filesystem::path& path, bool append)
    : path_(path), out_(path, append ? std::ios::app : std::ios::trunc) {
  if (!out_) throw Error(path.string() + ": cannot open the metrics file for writing", ErrorCategory::Io);
}

void MetricsWriter::write(const StepMetrics& m) {
  out_ << to_json(m).dump() << '\n';
  out_.flush();
  if (!out_) throw Error(path_.string() + ": cannot write the metrics file", ErrorCategory::Io);
}

}  // namespace tandem::train
