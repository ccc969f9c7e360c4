#pragma once
// What the API tests share: fixture paths, the Hugging Face reference losses, the internal
// trainer's losses for the same run, and which OpenCL device (if any) the heft runs can use.

#include <filesystem>
#include <string>
#include <vector>

#include "tandem/trainer.hpp"

namespace tandem::testing {

std::filesystem::path gpt2_dir();                  // tests/fixtures/models/gpt2-tiny
std::filesystem::path train_data();                // its eval_multi.ids: 3 sequences, 69 predictions
// Hugging Face's mean LM loss of gpt2-tiny over @p data_name (tests/fixtures/make_reference.py).
double reference_loss(const std::string& data_name);
// The LoRA run both APIs make: rank 4, batch 2, seq 16, lr 1e-2, 3 steps, no cost history.
TrainOptions lora_options(const std::filesystem::path& out, const std::vector<std::string>& devices,
                          const std::string& policy);
// True when an OpenCL device exists (PoCL counts), so the "cpu,opencl" runs can be made.
bool have_opencl_device();

}  // namespace tandem::testing
