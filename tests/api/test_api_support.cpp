#include "test_api_support.hpp"

#include <fstream>

#include <nlohmann/json.hpp>

#if TANDEM_HAVE_OPENCL
#include "backends/opencl/devices.hpp"
#endif

namespace tandem::testing {
namespace fs = std::filesystem;

fs::path gpt2_dir() { return fs::path(TANDEM_FIXTURES) / "models" / "gpt2-tiny"; }

fs::path train_data() { return gpt2_dir() / "eval_multi.ids"; }

double reference_loss(const std::string& data_name) {
  std::ifstream in(fs::path(TANDEM_FIXTURES) / "models" / "cli_reference.json");
  return nlohmann::json::parse(in).at("gpt2-tiny").at(data_name).at("loss").get<double>();
}

TrainOptions lora_options(const fs::path& out, const std::vector<std::string>& devices, const std::string& policy) {
  TrainOptions o;
  o.data = train_data();
  o.out = out;
  o.steps = 3;
  o.batch = 2;
  o.seq = 16;
  o.lr = 1e-2;
  o.lora_rank = 4;
  o.scheduler.devices = devices;
  o.scheduler.policy = policy;
  o.extra["no_history"] = "true";
  return o;
}

bool have_opencl_device() {
#if TANDEM_HAVE_OPENCL
  return !opencl::list_devices().empty();
#else
  return false;
#endif
}

}  // namespace tandem::testing
