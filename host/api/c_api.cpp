// The C API over the C++ API. Every entry point catches everything: no exception crosses into C.
#include "tandem/tandem.h"

#include <algorithm>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "api/options.hpp"
#include "tandem/tandem.hpp"

struct tandem_model {
  tandem::Model model;
};

struct tandem_options {
  tandem::TrainOptions options;
};

// The run is made by tandem_trainer_run, which is when the step count is known.
struct tandem_trainer {
  tandem::Model model;
  tandem::TrainOptions options;
  std::optional<tandem::Trainer> trainer;
  std::vector<double> losses;
  bool trained = false;  // the run finished
};

namespace {

thread_local std::string last_error;

tandem_status fail(tandem_status status, const char* message) noexcept {
  try {
    last_error = message;
  } catch (...) {
    last_error.clear();  // out of memory for the message: leave it empty rather than throw
  }
  return status;
}

tandem_status status_of(tandem::ErrorCategory category) noexcept {
  switch (category) {
    case tandem::ErrorCategory::InvalidArgument: return TANDEM_ERROR_INVALID_ARGUMENT;
    case tandem::ErrorCategory::Io: return TANDEM_ERROR_IO;
    case tandem::ErrorCategory::Device: return TANDEM_ERROR_DEVICE;
    case tandem::ErrorCategory::Internal: return TANDEM_ERROR_INTERNAL;
  }
  return TANDEM_ERROR_INTERNAL;
}

// Runs @p body, turning any exception into a status and the thread's last error.
template <class Body>
tandem_status guard(Body&& body) noexcept {
  try {
    body();
    return TANDEM_OK;
  } catch (const tandem::Error& e) {
    return fail(status_of(e.category()), e.what());
  } catch (const std::bad_alloc&) {
    return fail(TANDEM_ERROR_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    return fail(TANDEM_ERROR_INTERNAL, e.what());
  } catch (...) {
    return fail(TANDEM_ERROR_INTERNAL, "unknown exception inside Tandem");
  }
}

// An InvalidArgument failure "<function>: <argument> is NULL" when @p pointer is NULL.
#define TANDEM_REQUIRE(pointer, function)                                                  \
  do {                                                                                     \
    if ((pointer) == nullptr) return fail(TANDEM_ERROR_INVALID_ARGUMENT, function ": " #pointer " is NULL"); \
  } while (0)

}  // namespace

extern "C" {

const char* tandem_version(void) { return tandem::version(); }

const char* tandem_last_error(void) { return last_error.c_str(); }

tandem_status tandem_model_load(const char* dir, tandem_model** out) {
  TANDEM_REQUIRE(out, "tandem_model_load");
  *out = nullptr;
  TANDEM_REQUIRE(dir, "tandem_model_load");
  return guard([&] { *out = new tandem_model{tandem::Model::load(dir)}; });
}

void tandem_model_free(tandem_model* model) { delete model; }

tandem_status tandem_model_parameter_count(const tandem_model* model, int64_t* count) {
  TANDEM_REQUIRE(model, "tandem_model_parameter_count");
  TANDEM_REQUIRE(count, "tandem_model_parameter_count");
  return guard([&] { *count = model->model.parameter_count(); });
}

tandem_status tandem_model_evaluate(tandem_model* model, const char* data, int64_t batch, double* loss) {
  TANDEM_REQUIRE(model, "tandem_model_evaluate");
  TANDEM_REQUIRE(data, "tandem_model_evaluate");
  TANDEM_REQUIRE(loss, "tandem_model_evaluate");
  return guard([&] {
    tandem::EvalOptions options;
    options.batch = batch;
    *loss = model->model.evaluate(data, options);
  });
}

tandem_status tandem_model_save(const tandem_model* model, const char* dir) {
  TANDEM_REQUIRE(model, "tandem_model_save");
  TANDEM_REQUIRE(dir, "tandem_model_save");
  return guard([&] { model->model.save(dir); });
}

tandem_status tandem_options_new(tandem_options** out) {
  TANDEM_REQUIRE(out, "tandem_options_new");
  *out = nullptr;
  return guard([&] { *out = new tandem_options{}; });
}

void tandem_options_free(tandem_options* options) { delete options; }

tandem_status tandem_options_set(tandem_options* options, const char* key, const char* value) {
  TANDEM_REQUIRE(options, "tandem_options_set");
  TANDEM_REQUIRE(key, "tandem_options_set");
  TANDEM_REQUIRE(value, "tandem_options_set");
  return guard([&] {
    // Parsed now into a scratch config so a bad key or value fails at this call.
    tandem::train::TrainConfig scratch;
    tandem::api::apply_setting(scratch, key, value);
    options->options.extra[key] = value;
  });
}

tandem_status tandem_options_set_devices(tandem_options* options, const char* devices) {
  TANDEM_REQUIRE(options, "tandem_options_set_devices");
  TANDEM_REQUIRE(devices, "tandem_options_set_devices");
  return tandem_options_set(options, "devices", devices);
}

tandem_status tandem_options_set_policy(tandem_options* options, const char* policy) {
  TANDEM_REQUIRE(options, "tandem_options_set_policy");
  TANDEM_REQUIRE(policy, "tandem_options_set_policy");
  return tandem_options_set(options, "policy", policy);
}

tandem_status tandem_trainer_new(const tandem_model* model, const tandem_options* options, tandem_trainer** out) {
  TANDEM_REQUIRE(out, "tandem_trainer_new");
  *out = nullptr;
  TANDEM_REQUIRE(model, "tandem_trainer_new");
  TANDEM_REQUIRE(options, "tandem_trainer_new");
  return guard([&] {
    (void)tandem::api::to_train_config(model->model.directory(), options->options);
    *out = new tandem_trainer{model->model, options->options, std::nullopt, {}, false};
  });
}

tandem_status tandem_trainer_run(tandem_trainer* trainer, int64_t steps) {
  TANDEM_REQUIRE(trainer, "tandem_trainer_run");
  if (steps < 0) return fail(TANDEM_ERROR_INVALID_ARGUMENT, "tandem_trainer_run: steps must be >= 0");
  if (trainer->trainer)
    return fail(TANDEM_ERROR_INVALID_ARGUMENT, "tandem_trainer_run: this trainer has already run; make a new one");
  return guard([&] {
    tandem::TrainOptions options = trainer->options;
    if (steps > 0) options.extra["steps"] = std::to_string(steps);
    trainer->trainer.emplace(trainer->model, std::move(options));
    trainer->losses = trainer->trainer->run().losses;
    trainer->trained = true;
  });
}

tandem_status tandem_trainer_losses(const tandem_trainer* trainer, double* losses, size_t capacity, size_t* count) {
  TANDEM_REQUIRE(trainer, "tandem_trainer_losses");
  TANDEM_REQUIRE(count, "tandem_trainer_losses");
  if (losses == nullptr && capacity > 0)
    return fail(TANDEM_ERROR_INVALID_ARGUMENT, "tandem_trainer_losses: losses is NULL but capacity is not 0");
  *count = trainer->losses.size();
  std::copy_n(trainer->losses.begin(), std::min(capacity, trainer->losses.size()), losses);
  return TANDEM_OK;
}

tandem_status tandem_trainer_model(const tandem_trainer* trainer, tandem_model** out) {
  TANDEM_REQUIRE(out, "tandem_trainer_model");
  *out = nullptr;
  TANDEM_REQUIRE(trainer, "tandem_trainer_model");
  if (!trainer->trained)
    return fail(TANDEM_ERROR_INVALID_ARGUMENT, "tandem_trainer_model: the trainer has not finished a run");
  return guard([&] { *out = new tandem_model{trainer->trainer->model()}; });
}

tandem_status tandem_trainer_save_adapter(const tandem_trainer* trainer, const char* dir) {
  TANDEM_REQUIRE(trainer, "tandem_trainer_save_adapter");
  TANDEM_REQUIRE(dir, "tandem_trainer_save_adapter");
  if (!trainer->trained)
    return fail(TANDEM_ERROR_INVALID_ARGUMENT, "tandem_trainer_save_adapter: the trainer has not finished a run");
  return guard([&] { trainer->trainer->save_adapter(dir); });
}

void tandem_trainer_free(tandem_trainer* trainer) { delete trainer; }

}  // extern "C"
