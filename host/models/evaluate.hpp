#pragma once
// What `tandem eval` and `tandem forward` run: choosing the device for a policy, turning a
// dataset file into the examples a model takes, and running forward passes over them.
//
// Which examples a model gets from a file:
//   GPT2LMHeadModel               next-token windows of every sequence (data/examples.hpp)
//   BertForSequenceClassification one example per .jsonl line with its label
//   any BERT, unlabelled data     one example per sequence, truncated to the context
// Text formats (.txt, .jsonl) are tokenised with the model directory's tokenizer and, for BERT,
// framed as [CLS] text [SEP]; pre-tokenised formats (.ids, .bin) are taken as they are.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "data/batch.hpp"
#include "data/batcher.hpp"
#include "data/examples.hpp"
#include "models/model.hpp"
#include "ops/op_kernels.hpp"
#include "tandem/tensor.hpp"

namespace tandem::models {

// The device spec that runs every op under @p policy, given the comma-separated device specs of
// @p devices. Policies today (the scheduler that splits work across devices comes later):
//   ""      the one device of @p devices (a list of several is an error)
//   "cpu"   the CPU backend
//   "fpga"  the first OpenCL device ("opencl" or "opencl:N") of @p devices
[[nodiscard]] std::string select_device(std::string_view devices, std::string_view policy);

// load_model(@p dir), after checking that @p dir is a directory (a missing one is an Io error
// naming it rather than the config.json inside it).
[[nodiscard]] std::unique_ptr<Model> load_model_dir(const std::filesystem::path& dir);

// A model's examples read from a dataset file.
struct ModelData {
  std::filesystem::path source;  // the dataset file, for messages
  data::ExampleSet examples;
  bool labelled = false;    // classification examples carry real labels
  std::int32_t pad_id = 0;  // the tokenizer's pad id when there is one
};

// Reads @p file for @p model (loaded from @p model_dir, which holds the tokenizer when the format
// needs one). @p context 0 means the model's maximum positions; a larger one is an error.
[[nodiscard]] ModelData load_model_data(const Model& model, const std::filesystem::path& model_dir,
                                        const std::filesystem::path& file, std::int64_t context);

struct EvalResult {
  data::Task task = data::Task::LanguageModel;
  double loss = 0;           // mean over every predicted token (LM) or every example
  std::int64_t count = 0;    // predicted tokens (LM) or examples (classification)
  std::int64_t correct = 0;  // classification: examples whose arg-max logit is the label
  [[nodiscard]] double perplexity() const;
  [[nodiscard]] double accuracy() const;
};

// The loss of @p model over every example of @p data, in order, @p batch_size at a time. The mean
// weights each token (each example) equally, not each batch. An encoder without a head, a masked
// LM and unlabelled classification data have no loss to evaluate and are errors naming @p data's file.
[[nodiscard]] EvalResult evaluate(Model& model, const ModelData& data, OpKernels& ops, std::int64_t batch_size);

struct ForwardOutput {
  data::Batch batch;
  float loss = 0;  // 0 when the batch has no targets or labels
  // "logits", "loss", "ids", "mask" and, when asked for, "grad.<name>" of every trainable parameter.
  std::vector<std::pair<std::string, Tensor>> tensors;
};

// Forward (and with @p grads, backward) of the first batch of @p data. Gradients need a loss:
// asking for them without one is an error naming @p data's file.
[[nodiscard]] ForwardOutput forward_first_batch(Model& model, const ModelData& data, OpKernels& ops,
                                                std::int64_t batch_size, bool grads);

// Batches for training: shuffled by @p seed, every one padded to the context and the last
// smaller one dropped, so every step has the same shapes (and one placement serves them all).
// Fewer examples than one batch is an error naming the data file.
[[nodiscard]] data::Batcher fixed_shape_batcher(const ModelData& data, std::int64_t batch_size, std::uint64_t seed);

// Throws an Io error naming @p path when its directory does not exist, so a long run does not
// fail only at the end.
void check_output_directory(const std::filesystem::path& path);

}  // namespace tandem::models
