#pragma once
// The `tandem` command line: each subcommand registers its options on the CLI11 app and
// runs from the parsed values. main.cpp is the only place errors are caught.

#include <CLI/CLI.hpp>

namespace tandem::cli {

// `tandem devices [--json]`
void add_devices_command(CLI::App& app);
// `tandem kernels test ...` and `tandem kernels list`
void add_kernels_command(CLI::App& app);
// `tandem eval --model DIR --data FILE ...`
void add_eval_command(CLI::App& app);
// `tandem forward --model DIR --data FILE --out FILE.safetensors [--grads] ...`
void add_forward_command(CLI::App& app);

// `tandem step`: training steps under a placement policy
void add_step_command(CLI::App& app);

// `tandem calibrate`: measure devices and a model's ops for the heft policy
void add_calibrate_command(CLI::App& app);

// `tandem generate --model DIR --prompt TEXT ...`: continue a prompt with a GPT-2 model
void add_generate_command(CLI::App& app);
// `tandem init --config FILE --out DIR`: a GPT-2 model with freshly initialised weights
void add_init_command(CLI::App& app);
// `tandem corpus --kind a|b`: the demo's generated corpora
void add_corpus_command(CLI::App& app);

// `tandem xclbin info FILE [--json]`: kernels, banks and clocks of an FPGA binary
void add_xclbin_command(CLI::App& app);

// `tandem finetune`: fine-tuning runs with checkpoints, resume, metrics and plots
void add_finetune_command(CLI::App& app);

// Set by a command whose work completed but whose result is a failure (a kernel that does not
// match the reference): main exits with it.
inline int g_exit_status = 0;

}  // namespace tandem::cli
