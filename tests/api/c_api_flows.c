/* The C API exercised from C (C99): see c_api_flows.h. */
#include "c_api_flows.h"

#include <stdio.h>
#include <string.h>

static char failure[1024];

/* Records the first failed check of a flow; returns the message for the flow to return. */
static const char* failed(const char* check) {
  snprintf(failure, sizeof failure, "%s (last error: '%s')", check, tandem_last_error());
  return failure;
}

/* True when @p status is INVALID_ARGUMENT and the message starts with @p function. */
static int rejected(tandem_status status, const char* function) {
  return status == TANDEM_ERROR_INVALID_ARGUMENT && strncmp(tandem_last_error(), function, strlen(function)) == 0;
}

const char* c_null_arguments(void) {
  tandem_model* model = (tandem_model*)&failure; /* a non-NULL value the call must overwrite */
  tandem_options* options = NULL;
  tandem_trainer* trainer = (tandem_trainer*)&failure;
  double loss = 0;
  int64_t count = 0;
  size_t n = 0;

  if (!rejected(tandem_model_load(NULL, &model), "tandem_model_load") || model != NULL)
    return failed("tandem_model_load(NULL dir)");
  if (!rejected(tandem_model_load("x", NULL), "tandem_model_load")) return failed("tandem_model_load(NULL out)");
  if (!rejected(tandem_model_parameter_count(NULL, &count), "tandem_model_parameter_count"))
    return failed("tandem_model_parameter_count(NULL model)");
  if (!rejected(tandem_model_evaluate(NULL, "d", 1, &loss), "tandem_model_evaluate"))
    return failed("tandem_model_evaluate(NULL model)");
  if (!rejected(tandem_model_save(NULL, "d"), "tandem_model_save")) return failed("tandem_model_save(NULL model)");
  if (!rejected(tandem_options_new(NULL), "tandem_options_new")) return failed("tandem_options_new(NULL out)");

  if (tandem_options_new(&options) != TANDEM_OK) return failed("tandem_options_new");
  if (!rejected(tandem_options_set(options, NULL, "1"), "tandem_options_set")) return failed("tandem_options_set(NULL key)");
  if (!rejected(tandem_options_set(options, "steps", NULL), "tandem_options_set"))
    return failed("tandem_options_set(NULL value)");
  if (!rejected(tandem_options_set(NULL, "steps", "1"), "tandem_options_set"))
    return failed("tandem_options_set(NULL options)");
  if (!rejected(tandem_options_set_devices(options, NULL), "tandem_options_set_devices"))
    return failed("tandem_options_set_devices(NULL devices)");
  if (!rejected(tandem_options_set_policy(NULL, "cpu"), "tandem_options_set_policy"))
    return failed("tandem_options_set_policy(NULL options)");
  if (!rejected(tandem_trainer_new(NULL, options, &trainer), "tandem_trainer_new") || trainer != NULL)
    return failed("tandem_trainer_new(NULL model)");
  tandem_options_free(options);

  if (!rejected(tandem_trainer_run(NULL, 1), "tandem_trainer_run")) return failed("tandem_trainer_run(NULL trainer)");
  if (!rejected(tandem_trainer_losses(NULL, NULL, 0, &n), "tandem_trainer_losses"))
    return failed("tandem_trainer_losses(NULL trainer)");
  if (!rejected(tandem_trainer_model(NULL, &model), "tandem_trainer_model") || model != NULL)
    return failed("tandem_trainer_model(NULL trainer)");
  if (!rejected(tandem_trainer_save_adapter(NULL, "d"), "tandem_trainer_save_adapter"))
    return failed("tandem_trainer_save_adapter(NULL trainer)");

  tandem_model_free(NULL);
  tandem_options_free(NULL);
  tandem_trainer_free(NULL);
  return NULL;
}

const char* c_missing_model_dir(const char* dir) {
  tandem_model* model = NULL;
  if (tandem_model_load(dir, &model) != TANDEM_ERROR_IO) return failed("status is not TANDEM_ERROR_IO");
  if (model != NULL) return failed("*out is not NULL after a failure");
  if (strstr(tandem_last_error(), dir) == NULL) return failed("the message does not name the directory");
  return NULL;
}

const char* c_bad_options(void) {
  tandem_options* options = NULL;
  const char* result = NULL;
  if (tandem_options_new(&options) != TANDEM_OK) return failed("tandem_options_new");
  if (tandem_options_set(options, "stepz", "3") != TANDEM_ERROR_INVALID_ARGUMENT ||
      strstr(tandem_last_error(), "stepz") == NULL)
    result = failed("unknown key 'stepz' accepted or not named");
  else if (tandem_options_set(options, "steps", "three") != TANDEM_ERROR_INVALID_ARGUMENT ||
           strstr(tandem_last_error(), "steps") == NULL)
    result = failed("steps = 'three' accepted or not named");
  else if (tandem_options_set(options, "no_history", "maybe") != TANDEM_ERROR_INVALID_ARGUMENT)
    result = failed("no_history = 'maybe' accepted");
  else if (tandem_options_set(options, "lr", "1e-3") != TANDEM_OK)
    result = failed("lr = '1e-3' rejected");
  tandem_options_free(options);
  return result;
}

/* The parameter count and loss on @p data of the model in @p dir. */
static const char* describe(const char* dir, const char* data, int64_t* count, double* loss) {
  tandem_model* model = NULL;
  const char* result = NULL;
  if (tandem_model_load(dir, &model) != TANDEM_OK) return failed("tandem_model_load");
  if (tandem_model_parameter_count(model, count) != TANDEM_OK)
    result = failed("tandem_model_parameter_count");
  else if (tandem_model_evaluate(model, data, 2, loss) != TANDEM_OK)
    result = failed("tandem_model_evaluate");
  tandem_model_free(model);
  return result;
}

const char* c_save_and_reload(const char* model_dir, const char* out_dir, const char* data, int64_t* count,
                              double* loss, int64_t* saved_count, double* saved_loss) {
  tandem_model* model = NULL;
  const char* result = describe(model_dir, data, count, loss);
  if (result != NULL) return result;
  if (tandem_model_load(model_dir, &model) != TANDEM_OK) return failed("tandem_model_load");
  if (tandem_model_save(model, out_dir) != TANDEM_OK) result = failed("tandem_model_save");
  tandem_model_free(model);
  return result != NULL ? result : describe(out_dir, data, saved_count, saved_loss);
}

/* Sets every option of c_finetune; NULL when all were accepted. */
static const char* configure(tandem_options* options, const char* data, const char* out_dir, const char* devices,
                             const char* policy) {
  const char* settings[][2] = {{"data", data}, {"out", out_dir},  {"batch", "2"},        {"seq", "16"},
                               {"lr", "1e-2"}, {"lora_rank", "4"}, {"no_history", "true"}};
  size_t i;
  for (i = 0; i < sizeof settings / sizeof settings[0]; ++i)
    if (tandem_options_set(options, settings[i][0], settings[i][1]) != TANDEM_OK) return failed("tandem_options_set");
  if (tandem_options_set_devices(options, devices) != TANDEM_OK) return failed("tandem_options_set_devices");
  if (tandem_options_set_policy(options, policy) != TANDEM_OK) return failed("tandem_options_set_policy");
  return NULL;
}

/* Runs the trainer and reads back its losses, saves the adapter and evaluates the trained model. */
static const char* train_and_evaluate(tandem_trainer* trainer, const char* data, const char* adapter_dir, long steps,
                                      double* losses, size_t capacity, size_t* count, double* eval_loss) {
  tandem_model* trained = NULL;
  const char* result = NULL;
  if (tandem_trainer_save_adapter(trainer, adapter_dir) != TANDEM_ERROR_INVALID_ARGUMENT)
    return failed("tandem_trainer_save_adapter before the run did not fail");
  if (tandem_trainer_run(trainer, steps) != TANDEM_OK) return failed("tandem_trainer_run");
  if (tandem_trainer_run(trainer, steps) != TANDEM_ERROR_INVALID_ARGUMENT) return failed("a second run did not fail");
  if (tandem_trainer_losses(trainer, losses, capacity, count) != TANDEM_OK) return failed("tandem_trainer_losses");
  if (tandem_trainer_save_adapter(trainer, adapter_dir) != TANDEM_OK) return failed("tandem_trainer_save_adapter");
  if (tandem_trainer_model(trainer, &trained) != TANDEM_OK) return failed("tandem_trainer_model");
  if (tandem_model_evaluate(trained, data, 2, eval_loss) != TANDEM_OK) result = failed("tandem_model_evaluate");
  tandem_model_free(trained);
  return result;
}

const char* c_finetune(const char* model_dir, const char* data, const char* out_dir, const char* adapter_dir,
                       const char* devices, const char* policy, long steps, double* losses, size_t capacity,
                       size_t* count, double* eval_loss) {
  tandem_model* model = NULL;
  tandem_options* options = NULL;
  tandem_trainer* trainer = NULL;
  const char* result = NULL;
  if (tandem_model_load(model_dir, &model) != TANDEM_OK) return failed("tandem_model_load");
  if (tandem_options_new(&options) != TANDEM_OK) {
    tandem_model_free(model);
    return failed("tandem_options_new");
  }
  result = configure(options, data, out_dir, devices, policy);
  if (result == NULL && tandem_trainer_new(model, options, &trainer) != TANDEM_OK) result = failed("tandem_trainer_new");
  /* The trainer keeps what it needs: the model and options may go first. */
  tandem_options_free(options);
  tandem_model_free(model);
  if (result == NULL) result = train_and_evaluate(trainer, data, adapter_dir, steps, losses, capacity, count, eval_loss);
  tandem_trainer_free(trainer);
  return result;
}
