/* Tandem from C: load a model, fine-tune it with LoRA for 3 steps on the CPU and the FPGA
 * device (PoCL emulates one), evaluate it, and save the adapter.
 *
 *   app MODEL_DIR DATA_FILE OUT_DIR [DEVICES]     DEVICES defaults to "cpu,opencl"
 *
 * Builds with CMake (CMakeLists.txt) or with: cc main.c $(pkg-config --cflags --libs tandem)
 */
#include <stdio.h>

#include <tandem/tandem.h>

#define MAX_STEPS 3

/* Prints the last error and gives the exit status of a failure. */
static int report_failure(const char* call) {
  fprintf(stderr, "error: %s: %s\n", call, tandem_last_error());
  return 1;
}

static int configure(tandem_options* options, const char* data, const char* out_dir, const char* devices) {
  const char* settings[][2] = {{"data", data}, {"out", out_dir}, {"batch", "2"}, {"seq", "64"},
                               {"lr", "1e-3"}, {"lora_rank", "4"}};
  size_t i;
  for (i = 0; i < sizeof settings / sizeof settings[0]; ++i)
    if (tandem_options_set(options, settings[i][0], settings[i][1]) != TANDEM_OK)
      return report_failure("tandem_options_set");
  if (tandem_options_set_devices(options, devices) != TANDEM_OK) return report_failure("tandem_options_set_devices");
  if (tandem_options_set_policy(options, "heft") != TANDEM_OK) return report_failure("tandem_options_set_policy");
  return 0;
}

/* Trains, prints the losses and the trained model's loss on @p data, saves the adapter. */
static int train(tandem_trainer* trainer, const char* data, const char* out_dir) {
  double losses[MAX_STEPS];
  size_t count = 0, i;
  double loss = 0;
  tandem_model* trained = NULL;
  if (tandem_trainer_run(trainer, MAX_STEPS) != TANDEM_OK) return report_failure("tandem_trainer_run");
  if (tandem_trainer_losses(trainer, losses, MAX_STEPS, &count) != TANDEM_OK) return report_failure("tandem_trainer_losses");
  for (i = 0; i < count && i < MAX_STEPS; ++i) printf("step %u loss %.4f\n", (unsigned)(i + 1), losses[i]);
  if (tandem_trainer_model(trainer, &trained) != TANDEM_OK) return report_failure("tandem_trainer_model");
  if (tandem_model_evaluate(trained, data, 8, &loss) != TANDEM_OK) {
    tandem_model_free(trained);
    return report_failure("tandem_model_evaluate");
  }
  tandem_model_free(trained);
  printf("eval loss %.4f after training\n", loss);
  if (tandem_trainer_save_adapter(trainer, out_dir) != TANDEM_OK) return report_failure("tandem_trainer_save_adapter");
  printf("adapter saved to %s\n", out_dir);
  return 0;
}

int main(int argc, char** argv) {
  tandem_model* model = NULL;
  tandem_options* options = NULL;
  tandem_trainer* trainer = NULL;
  double loss = 0;
  int status = 1;
  if (argc < 4 || argc > 5) {
    fprintf(stderr, "usage: %s MODEL_DIR DATA_FILE OUT_DIR [DEVICES]\n", argv[0]);
    return 1;
  }
  printf("Tandem %s\n", tandem_version());
  if (tandem_model_load(argv[1], &model) != TANDEM_OK) return report_failure("tandem_model_load");
  if (tandem_model_evaluate(model, argv[2], 8, &loss) != TANDEM_OK) {
    status = report_failure("tandem_model_evaluate");
  } else if (tandem_options_new(&options) != TANDEM_OK) {
    status = report_failure("tandem_options_new");
  } else if (configure(options, argv[2], argv[3], argc == 5 ? argv[4] : "cpu,opencl") == 0) {
    printf("eval loss %.4f before training\n", loss);
    if (tandem_trainer_new(model, options, &trainer) != TANDEM_OK)
      status = report_failure("tandem_trainer_new");
    else
      status = train(trainer, argv[2], argv[3]);
  }
  tandem_trainer_free(trainer);
  tandem_options_free(options);
  tandem_model_free(model);
  return status;
}
