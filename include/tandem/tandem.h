/* The C API of Tandem: load a model, configure devices and policy, fine-tune, evaluate, save.
 *
 * Plain C99 over opaque handles, for C programs and for foreign-function interfaces (Python
 * ctypes, Rust, ...). No function throws or aborts on bad input: each returns a
 * tandem_status, and on failure tandem_last_error() holds a one-line message naming the
 * argument or file and the problem. Handles are created by the *_new / *_load functions and
 * released with the matching *_free; one handle must not be used from two threads at once.
 */
#ifndef TANDEM_TANDEM_H
#define TANDEM_TANDEM_H

#include <stddef.h>
#include <stdint.h>

#include "tandem/export.hpp"

#ifdef __cplusplus
extern "C" {
#endif

/** The outcome of a call. Anything but TANDEM_OK leaves a message in tandem_last_error(). */
typedef enum tandem_status {
  TANDEM_OK = 0,                     /**< The call succeeded. */
  TANDEM_ERROR_INVALID_ARGUMENT = 1, /**< A NULL handle, a bad option, key or value. */
  TANDEM_ERROR_IO = 2,               /**< A file or directory is missing, unreadable or malformed. */
  TANDEM_ERROR_DEVICE = 3,           /**< A device failed or is missing. */
  TANDEM_ERROR_INTERNAL = 4          /**< A bug in Tandem, or out of memory. */
} tandem_status;

/** A loaded model (weights and tokenizer). */
typedef struct tandem_model tandem_model;
/** The settings of a fine-tuning run. */
typedef struct tandem_options tandem_options;
/** A fine-tuning run of one model with one set of options. */
typedef struct tandem_trainer tandem_trainer;

/** The library version, "MAJOR.MINOR.PATCH"; a static string. */
TANDEM_API const char* tandem_version(void);

/** The message of the last call that failed on the calling thread ("" before any failure). The
 * pointer stays valid until the next failing call on this thread. */
TANDEM_API const char* tandem_last_error(void);

/** Loads the Hugging Face model directory @p dir into a new handle stored in @p out (set to NULL
 * on failure). A missing directory gives TANDEM_ERROR_IO with a message naming it. */
TANDEM_API tandem_status tandem_model_load(const char* dir, tandem_model** out);

/** Releases @p model; NULL is ignored. Trainers made from it stay usable. */
TANDEM_API void tandem_model_free(tandem_model* model);

/** Stores the number of scalar parameters of @p model (LoRA adapters included) in @p count. */
TANDEM_API tandem_status tandem_model_parameter_count(const tandem_model* model, int64_t* count);

/** Stores in @p loss the mean loss of @p model over the dataset file @p data (.txt, .jsonl,
 * .ids or .bin) on the CPU, @p batch examples per forward pass, as `tandem eval` computes it. */
TANDEM_API tandem_status tandem_model_evaluate(tandem_model* model, const char* data, int64_t batch, double* loss);

/** Writes @p model as a Hugging Face checkpoint to @p dir (created if missing); a model with
 * LoRA adapters is written with them merged into its weights. */
TANDEM_API tandem_status tandem_model_save(const tandem_model* model, const char* dir);

/** New options with the defaults of `tandem finetune` (devices "cpu", policy "heft"), stored in
 * @p out (NULL on failure). */
TANDEM_API tandem_status tandem_options_new(tandem_options** out);

/** Releases @p options; NULL is ignored. Trainers made with them keep their own copy. */
TANDEM_API void tandem_options_free(tandem_options* options);

/** Sets one setting of `tandem finetune` by its config key and the value as text, e.g.
 * ("data", "train.txt"), ("out", "run"), ("steps", "3"), ("batch", "2"), ("lora_rank", "4"),
 * ("lr", "1e-3"), ("no_history", "true"), ("lora_targets", "c_attn,c_proj"). An unknown key or
 * a value of the wrong type is TANDEM_ERROR_INVALID_ARGUMENT naming the key; ranges are
 * checked when the run starts. The last value set for a key wins. */
TANDEM_API tandem_status tandem_options_set(tandem_options* options, const char* key, const char* value);

/** Sets the devices: comma-separated specs such as "cpu,opencl" or "cpu,opencl:1". */
TANDEM_API tandem_status tandem_options_set_devices(tandem_options* options, const char* devices);

/** Sets the placement policy: "cpu", "fpga", "heft" or "rules:FILE". */
TANDEM_API tandem_status tandem_options_set_policy(tandem_options* options, const char* policy);

/** A new trainer for @p model with a copy of @p options, stored in @p out (NULL on failure).
 * Only the options are checked here; files are read and devices opened by tandem_trainer_run. */
TANDEM_API tandem_status tandem_trainer_new(const tandem_model* model, const tandem_options* options,
                                            tandem_trainer** out);

/** Fine-tunes a copy of the model's weights for @p steps optimizer steps (0: the "steps" or
 * "epochs" of the options), writing checkpoints and the final export under the "out" option.
 * A trainer runs once; a second call is TANDEM_ERROR_INVALID_ARGUMENT. */
TANDEM_API tandem_status tandem_trainer_run(tandem_trainer* trainer, int64_t steps);

/** The training loss of each step of the last run: copies up to @p capacity of them into
 * @p losses (may be NULL when @p capacity is 0) and stores how many there are in @p count. */
TANDEM_API tandem_status tandem_trainer_losses(const tandem_trainer* trainer, double* losses, size_t capacity,
                                               size_t* count);

/** A new handle to the trained model (adapters included), stored in @p out; release it with
 * tandem_model_free. Only after a successful tandem_trainer_run. */
TANDEM_API tandem_status tandem_trainer_model(const tandem_trainer* trainer, tandem_model** out);

/** Writes the trained LoRA adapter in Hugging Face PEFT's layout (adapter_config.json,
 * adapter_model.safetensors) to @p dir. Only after a successful run with "lora_rank" > 0. */
TANDEM_API tandem_status tandem_trainer_save_adapter(const tandem_trainer* trainer, const char* dir);

/** Releases @p trainer; NULL is ignored. Models from tandem_trainer_model stay usable. */
TANDEM_API void tandem_trainer_free(tandem_trainer* trainer);

#ifdef __cplusplus
}
#endif

#endif /* TANDEM_TANDEM_H */
