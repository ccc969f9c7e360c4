// tandem: the command line a researcher or kernel author lives in.
#include <cstdio>
#include <exception>

#include "commands.hpp"
#include "tandem/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Tandem: fine-tuning transformers on a CPU and an FPGA"};
  app.require_subcommand(1);
  tandem::cli::add_devices_command(app);
  tandem::cli::add_step_command(app);
  tandem::cli::add_finetune_command(app);
  tandem::cli::add_calibrate_command(app);
  tandem::cli::add_kernels_command(app);
  tandem::cli::add_eval_command(app);
  tandem::cli::add_forward_command(app);
  tandem::cli::add_generate_command(app);
  tandem::cli::add_init_command(app);
  tandem::cli::add_corpus_command(app);
  tandem::cli::add_xclbin_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const tandem::Error& e) {
    std::fprintf(stderr, "tandem: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tandem: internal error: %s\n", e.what());
    return 2;
  }
  return tandem::cli::g_exit_status;
}
