#include "train/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"
#include "tandem/error.hpp"

namespace tandem::train {
namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "checkpoint-";
constexpr const char* kStateFile = "trainer_state.json";

void fsync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) throw Error(dir.string() + ": cannot open the directory to sync it: " + std::strerror(errno), ErrorCategory::Io);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw Error(dir.string() + ": cannot sync the directory: " + std::strerror(err), ErrorCategory::Io);
}

// The step of a checkpoint directory name, or -1 for any other name.
std::int64_t step_of(const std::string& name) {
  const std::string prefix = kPrefix;
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return -1;
  std::int64_t step = 0;
  for (std::size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || step > (std::int64_t{1} << 56)) return -1;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}

void sleep_if_hooked(std::int64_t step) {
  const char* hook = std::getenv("TANDEM_TEST_CHECKPOINT_SLEEP");
  if (hook == nullptr) return;
  const std::string text(hook);
  const std::size_t colon = text.find(':');
  if (colon == std::string::npos) return;
  if (std::strtoll(text.substr(0, colon).c_str(), nullptr, 10) != step) return;
  std::this_thread::sleep_for(std::chrono::milliseconds(std::strtoll(text.substr(colon + 1).c_str(), nullptr, 10)));
}

void write_tensors(const fs::path& dir, models::Model& model, const Moments& moments, std::int64_t step) {
  std::vector<std::pair<std::string, Tensor>> params, optimizer;
  const std::span<models::Parameter> ps = model.parameters();
  for (std::size_t i = 0; i < ps.size(); ++i) {
    if (!ps[i].trainable) continue;
    params.emplace_back(ps[i].name, ps[i].value);
    optimizer.emplace_back("m." + ps[i].name, moments.m.at(i));
    optimizer.emplace_back("v." + ps[i].name, moments.v.at(i));
  }
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"step", std::to_string(step)}};
  io::write_safetensors(dir / "model.safetensors", params, meta);
  io::write_safetensors(dir / "optimizer.safetensors", optimizer, meta);
}

void remove_quietly(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
}

// Hidden leftovers of writes that a crash interrupted (".checkpoint-*").
void remove_stale_temporaries(const fs::path& out) {
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(out, ec))
    if (e.path().filename().string().rfind(std::string(".") + kPrefix, 0) == 0) remove_quietly(e.path());
}

// Moves @p from to @p to, replacing an earlier checkpoint of the same step only once the new
// one is complete.
void publish(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::path old;
  if (fs::exists(to)) {
    std::string hidden = ".";
    hidden.append(to.filename().string()).append(".old-").append(std::to_string(::getpid()));
    old = to.parent_path() / hidden;
    fs::rename(to, old, ec);
    if (ec) throw Error(to.string() + ": cannot move the earlier checkpoint aside: " + ec.message(), ErrorCategory::Io);
  }
  fs::rename(from, to, ec);
  if (ec) throw Error(to.string() + ": cannot rename the finished checkpoint into place: " + ec.message(), ErrorCategory::Io);
  fsync_directory(to.parent_path());
  if (!old.empty()) remove_quietly(old);
}

void prune(const fs::path& out, const fs::path& keep_this, int keep) {
  std::vector<fs::path> all = list_checkpoints(out);
  std::erase(all, keep_this);
  const std::size_t room = static_cast<std::size_t>(std::max(keep - 1, 0));
  if (all.size() <= room) return;
  for (std::size_t i = 0; i < all.size() - room; ++i) remove_quietly(all[i]);
}

}  // namespace

nlohmann::json to_json(const TrainerState& s) {
  nlohmann::json metrics = nlohmann::json::array();
  for (const StepMetrics& m : s.metrics) metrics.push_back(to_json(m));
  return {{"format", "tandem-trainer-state"},
          {"version", 1},
          {"step", s.step},
          {"optimizer_steps", s.optimizer_steps},
          {"config", s.config},
          {"data_position", {{"epoch", s.position.epoch}, {"index", s.position.index}}},
          {"rng", {{"seed", s.seed}}},
          {"metrics", metrics}};
}

TrainerState state_from_json(const nlohmann::json& j, const std::string& where) {
  TrainerState s;
  try {
    if (j.at("format").get<std::string>() != "tandem-trainer-state" || j.at("version").get<int>() != 1)
      throw Error(where + ": not a version 1 tandem trainer state", ErrorCategory::Io);
    s.step = j.at("step").get<std::int64_t>();
    s.optimizer_steps = j.at("optimizer_steps").get<std::int64_t>();
    s.config = j.at("config");
    s.position.epoch = j.at("data_position").at("epoch").get<std::int64_t>();
    s.position.index = j.at("data_position").at("index").get<std::int64_t>();
    s.seed = j.at("rng").at("seed").get<std::uint64_t>();
    for (const nlohmann::json& m : j.at("metrics")) s.metrics.push_back(metrics_from_json(m, where));
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": bad trainer state: " + e.what(), ErrorCategory::Io);
  }
  if (s.step < 0 || s.optimizer_steps < 0 || s.optimizer_steps > s.step)
    throw Error(where + ": bad trainer state: inconsistent step counts", ErrorCategory::Io);
  return s;
}

fs::path save_checkpoint(const fs::path& out, models::Model& model, const Moments& moments, const TrainerState& state,
                         int keep) {
  if (keep < 1) throw Error("--keep: must be >= 1, got " + std::to_string(keep));
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw Error(out.string() + ": cannot create the output directory: " + ec.message(), ErrorCategory::Io);
  remove_stale_temporaries(out);
  const std::string name = kPrefix + std::to_string(state.step);
  std::string hidden = ".";
  hidden.append(name).append(".tmp-").append(std::to_string(::getpid()));
  const fs::path tmp = out / hidden;
  fs::create_directory(tmp, ec);
  if (ec) throw Error(tmp.string() + ": cannot create the checkpoint directory: " + ec.message(), ErrorCategory::Io);
  try {
    write_tensors(tmp, model, moments, state.step);
    sleep_if_hooked(state.step);
    const std::string text = to_json(state).dump(1);
    io::write_file_atomically(tmp / kStateFile, std::as_bytes(std::span(text.data(), text.size())));
    fsync_directory(tmp);
    publish(tmp, out / name);
  } catch (...) {
    remove_quietly(tmp);
    throw;
  }
  prune(out, out / name, keep);
  return out / name;
}

TrainerState read_trainer_state(const fs::path& dir) {
  const fs::path file = dir / kStateFile;
  if (!fs::is_directory(dir)) throw Error(dir.string() + ": no such checkpoint directory", ErrorCategory::Io);
  std::ifstream in(file);
  if (!in) throw Error(file.string() + ": cannot open (not a complete checkpoint)", ErrorCategory::Io);
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    throw Error(file.string() + ": not valid JSON: " + e.what(), ErrorCategory::Io);
  }
  return state_from_json(j, file.string());
}

namespace {

void load_into(const io::SafetensorsReader& file, const std::string& name, Tensor& dst) {
  if (!file.contains(name))
    throw Error(file.path().string() + ": has no tensor '" + name + "'", ErrorCategory::Io);
  const Tensor t = file.load(name);
  if (t.shape() != dst.shape())
    throw Error(file.path().string() + ": '" + name + "' has the wrong shape for this model", ErrorCategory::Io);
  dst.copy_from(t);
}

}  // namespace

TrainerState load_checkpoint(const fs::path& dir, models::Model& model, const Moments& moments) {
  TrainerState state = read_trainer_state(dir);
  const io::SafetensorsReader params(dir / "model.safetensors");
  const io::SafetensorsReader optimizer(dir / "optimizer.safetensors");
  const std::span<models::Parameter> ps = model.parameters();
  if (moments.m.size() != ps.size() || moments.v.size() != ps.size())
    throw Error("load_checkpoint: the moments do not match the model's parameters", ErrorCategory::Internal);
  for (std::size_t i = 0; i < ps.size(); ++i) {
    if (!ps[i].trainable) continue;
    load_into(params, ps[i].name, ps[i].value);
    load_into(optimizer, "m." + ps[i].name, moments.m[i]);
    load_into(optimizer, "v." + ps[i].name, moments.v[i]);
  }
  return state;
}

std::vector<fs::path> list_checkpoints(const fs::path& out) {
  std::vector<std::pair<std::int64_t, fs::path>> found;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(out, ec)) {
    const std::int64_t step = step_of(e.path().filename().string());
    if (step >= 0 && fs::is_regular_file(e.path() / kStateFile)) found.emplace_back(step, e.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> paths;
  for (auto& [step, path] : found) paths.push_back(std::move(path));
  return paths;
}

std::optional<fs::path> latest_checkpoint(const fs::path& out) {
  std::vector<fs::path> all = list_checkpoints(out);
  if (all.empty()) return std::nullopt;
  return all.back();
}

}  // namespace tandem::train
