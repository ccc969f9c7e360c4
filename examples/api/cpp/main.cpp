// Tandem from C++: load a model, fine-tune it with LoRA for 3 steps on the CPU and the FPGA
// device (PoCL emulates one), evaluate it, and save the adapter.
//
//   app MODEL_DIR DATA_FILE OUT_DIR [DEVICES]     DEVICES defaults to "cpu,opencl"
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <tandem/tandem.hpp>

namespace {

std::vector<std::string> split_devices(const std::string& list) {
  std::vector<std::string> out;
  std::istringstream in(list);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

int run(const std::string& model_dir, const std::string& data, const std::string& out_dir, const std::string& devices) {
  const tandem::Model model = tandem::Model::load(model_dir);
  std::printf("Tandem %s: %s model, %lld parameters\n", tandem::version(), model.family().c_str(),
              static_cast<long long>(model.parameter_count()));

  tandem::TrainOptions options;
  options.data = data;
  options.out = out_dir;
  options.steps = 3;
  options.batch = 2;
  options.seq = 64;
  options.lr = 1e-3;
  options.lora_rank = 4;
  options.scheduler.devices = split_devices(devices);
  options.scheduler.policy = "heft";
  options.on_step = [](std::int64_t step, double loss) {
    std::printf("step %lld loss %.4f\n", static_cast<long long>(step), loss);
  };

  tandem::Trainer trainer(model, options);
  (void)trainer.run();
  std::printf("eval loss %.4f before, %.4f after\n", model.evaluate(data), trainer.model().evaluate(data));
  trainer.save_adapter(out_dir);
  std::printf("adapter saved to %s\n", out_dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 5) {
    std::fprintf(stderr, "usage: %s MODEL_DIR DATA_FILE OUT_DIR [DEVICES]\n", argv[0]);
    return 1;
  }
  try {
    return run(argv[1], argv[2], argv[3], argc == 5 ? argv[4] : "cpu,opencl");
  } catch (const tandem::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
