#ifndef TANDEM_TESTS_C_API_FLOWS_H
#define TANDEM_TESTS_C_API_FLOWS_H
/* Flows of the C API written in C (c_api_flows.c), called from the GoogleTest cases of
 * test_c_api.cpp. Each returns NULL when every check passed, else a message naming the first
 * check that failed (valid until the next call). */

#include <stddef.h>

#include "tandem/tandem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every entry point given a NULL handle, string or out-pointer returns
 * TANDEM_ERROR_INVALID_ARGUMENT with a message naming the function, and NULLs *out. */
const char* c_null_arguments(void);

/* tandem_model_load(@p dir) for a missing directory: TANDEM_ERROR_IO, the message naming it. */
const char* c_missing_model_dir(const char* dir);

/* An unknown key and a malformed value given to tandem_options_set fail at that call. */
const char* c_bad_options(void);

/* Loads @p model_dir, saves it to @p out_dir and loads that back: the parameter count and the
 * loss on @p data of the loaded model go to @p count and @p loss, those of the copy to
 * @p saved_count and @p saved_loss. */
const char* c_save_and_reload(const char* model_dir, const char* out_dir, const char* data, int64_t* count,
                              double* loss, int64_t* saved_count, double* saved_loss);

/* What a C program does: load @p model_dir, fine-tune @p steps steps with LoRA rank 4 on
 * @p data (batch 2, seq 16, lr 1e-2, no cost history) on @p devices under @p policy into
 * @p out_dir, save the adapter to @p adapter_dir and evaluate the trained model on @p data.
 * Fills @p losses (up to @p capacity), @p count and @p eval_loss. */
const char* c_finetune(const char* model_dir, const char* data, const char* out_dir, const char* adapter_dir,
                       const char* devices, const char* policy, long steps, double* losses, size_t capacity,
                       size_t* count, double* eval_loss);

#ifdef __cplusplus
}
#endif

#endif
