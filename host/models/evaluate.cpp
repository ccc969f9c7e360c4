#include "models/evaluate.hpp"

#include "backends/registry.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

#include "data/batcher.hpp"
#include "data/dataset.hpp"
#include "tandem/error.hpp"
#include "text/tokenizer.hpp"

namespace tandem::models {
namespace {

bool is_opencl_spec(std::string_view spec) { return spec == "opencl" || spec.starts_with("opencl:"); }

bool is_text_format(data::Format format) { return format == data::Format::Text || format == data::Format::Jsonl; }

// One unlabelled example per sequence, cut to the context (with room for [CLS] and [SEP]).
data::ExampleSet sequence_examples(const data::Dataset& dataset, std::int64_t context, const data::Framing& framing) {
  const bool framed = framing.cls.has_value() && framing.sep.has_value();
  const std::int64_t room = framed ? context - 2 : context;
  if (room < 1) throw Error(dataset.source.string() + ": context " + std::to_string(context) + " leaves no room for text");
  data::ExampleSet set{data::Task::Classification, context, framed, {}};
  for (const std::vector<std::int32_t>& ids : dataset.sequences) {
    const auto kept = std::min(room, static_cast<std::int64_t>(ids.size()));
    data::Example example;
    if (framed) example.ids.push_back(*framing.cls);
    example.ids.insert(example.ids.end(), ids.begin(), ids.begin() + kept);
    if (framed) example.ids.push_back(*framing.sep);
    set.examples.push_back(std::move(example));
  }
  return set;
}

std::int64_t resolve_context(const ModelConfig& config, const std::filesystem::path& file, std::int64_t context) {
  if (context == 0) return config.max_positions;
  if (context < 0 || context > config.max_positions) {
    throw Error(file.string() + ": --context " + std::to_string(context) + " outside [1, " +
                std::to_string(config.max_positions) + "], the model's positions");
  }
  return context;
}

// Targets that count in the loss: every target of an LM batch that is not ignored.
std::int64_t predicted_tokens(const Tensor& targets) {
  const std::int32_t* t = targets.data<std::int32_t>();
  return std::count_if(t, t + targets.numel(), [](std::int32_t v) { return v != data::kIgnoreIndex; });
}

// Rows of @p logits (B, L) whose largest entry is at @p labels' index.
std::int64_t correct_predictions(const Tensor& logits, const Tensor& labels) {
  const Tensor l = logits.contiguous();
  const std::int64_t classes = l.dim(1);
  const float* row = l.data<float>();
  const std::int32_t* label = labels.data<std::int32_t>();
  std::int64_t correct = 0;
  for (std::int64_t b = 0; b < l.dim(0); ++b, row += classes)
    correct += std::max_element(row, row + classes) - row == label[b] ? 1 : 0;
  return correct;
}

void check_has_loss(const Model& model, const ModelData& data, std::string_view what) {
  const Architecture a = model.config().architecture;
  if (a == Architecture::BertEncoder || a == Architecture::BertMaskedLM) {
    throw Error(data.source.string() + ": " + std::string(what) + " needs a loss, which " +
                architecture_name(a) + " does not define here (supported: GPT2LMHeadModel, BertForSequenceClassification)");
  }
  if (data.examples.task == data::Task::Classification && !data.labelled) {
    throw Error(data.source.string() + ": " + std::string(what) +
                " of a classifier needs labels: a .jsonl file with \"text\" and \"label\" per line");
  }
}

data::Batcher batcher_for(const ModelData& data, std::int64_t batch_size) {
  data::BatcherOptions options;
  options.batch_size = batch_size;
  options.shuffle = false;
  options.pad_id = data.pad_id;
  return data::Batcher(data.examples, options);
}

}  // namespace

std::string select_device(std::string_view devices, std::string_view policy) {
  const std::vector<std::string> specs = split_device_list(devices);
  if (policy.empty()) {
    if (specs.size() != 1) {
      throw Error("--devices '" + std::string(devices) +
                  "': several devices need --policy cpu or fpga (splitting work across devices is not supported yet)");
    }
    return specs.front();
  }
  if (policy == "cpu") return "cpu";
  if (policy == "fpga") {
    for (const std::string& s : specs)
      if (is_opencl_spec(s)) return s;
    throw Error("--policy fpga: no OpenCL device (opencl or opencl:N) in --devices '" + std::string(devices) + "'");
  }
  throw Error("--policy '" + std::string(policy) +
              "': supported today are cpu (everything on the CPU) and fpga (everything on the first OpenCL device)");
}

std::unique_ptr<Model> load_model_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    const bool exists = std::filesystem::exists(dir, ec);
    throw Error(dir.string() + (exists ? ": not a model directory" : ": model directory does not exist"), ErrorCategory::Io);
  }
  return load_model(dir);
}

ModelData load_model_data(const Model& model, const std::filesystem::path& model_dir, const std::filesystem::path& file,
                          std::int64_t context) {
  const ModelConfig& config = model.config();
  const std::int64_t t = resolve_context(config, file, context);
  const data::Format format = data::format_of(file);
  std::unique_ptr<text::Tokenizer> tokenizer;
  if (is_text_format(format)) tokenizer = text::load_tokenizer(model_dir);

  const bool classifier = config.architecture == Architecture::BertSequenceClassification;
  data::LoadOptions options;
  options.vocab_size = static_cast<std::int32_t>(config.vocab);
  options.tokenizer = tokenizer.get();
  options.labels = classifier && format == data::Format::Jsonl;
  options.num_labels = static_cast<std::int32_t>(config.num_labels);
  const data::Dataset dataset = data::load_dataset(file, options);

  ModelData out;
  out.source = file;
  if (tokenizer && tokenizer->special().pad) out.pad_id = *tokenizer->special().pad;
  if (!is_bert(config)) {
    out.examples = data::lm_examples(dataset, t);
    return out;
  }
  data::Framing framing;
  if (tokenizer) framing = {tokenizer->special().cls, tokenizer->special().sep};
  if (options.labels) {
    out.examples = data::classification_examples(dataset, t, framing);
    out.labelled = true;
  } else {
    out.examples = sequence_examples(dataset, t, framing);
  }
  return out;
}

double EvalResult::perplexity() const { return std::exp(loss); }

double EvalResult::accuracy() const { return count > 0 ? static_cast<double>(correct) / static_cast<double>(count) : 0.0; }

EvalResult evaluate(Model& model, const ModelData& data, OpKernels& ops, std::int64_t batch_size) {
  check_has_loss(model, data, "eval");
  data::Batcher batcher = batcher_for(data, batch_size);
  EvalResult result;
  result.task = data.examples.task;
  double total = 0;  // sum of per-token (per-example) losses
  for (std::int64_t i = 0; i < batcher.batches_per_epoch(); ++i) {
    const data::Batch batch = batcher.next();
    const double mean = model.forward(batch, ops);
    const std::int64_t n = result.task == data::Task::LanguageModel ? predicted_tokens(batch.targets) : batch.labels.dim(0);
    total += mean * static_cast<double>(n);
    result.count += n;
    if (result.task == data::Task::Classification) result.correct += correct_predictions(model.logits(), batch.labels);
  }
  result.loss = result.count > 0 ? total / static_cast<double>(result.count) : 0.0;
  return result;
}

ForwardOutput forward_first_batch(Model& model, const ModelData& data, OpKernels& ops, std::int64_t batch_size,
                                  bool grads) {
  if (grads) check_has_loss(model, data, "--grads");
  data::Batcher batcher = batcher_for(data, batch_size);
  ForwardOutput out;
  out.batch = batcher.next();
  if (data.examples.task == data::Task::Classification && !data.labelled) out.batch.labels = Tensor();
  if (grads) model.zero_grad();
  out.loss = model.forward(out.batch, ops);
  if (grads) model.backward(ops);

  Tensor loss = Tensor::empty(Shape{1});
  loss.data<float>()[0] = out.loss;
  out.tensors = {{"logits", model.logits()}, {"loss", loss}, {"ids", out.batch.ids}};
  if (out.batch.mask.defined()) out.tensors.emplace_back("mask", out.batch.mask);
  if (grads) {
    for (const Parameter& p : model.parameters())
      if (p.trainable && p.grad.defined()) out.tensors.emplace_back("grad." + p.name, p.grad);
  }
  return out;
}

void check_output_directory(const std::filesystem::path& path) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw Error(path.string() + ": the directory " + dir.string() + " does not exist", ErrorCategory::Io);
  }
}

data::Batcher fixed_shape_batcher(const ModelData& data, std::int64_t batch_size, std::uint64_t seed) {
  data::BatcherOptions options;
  options.batch_size = batch_size;
  options.seed = seed;
  options.drop_last = true;
  options.pad_to_context = true;
  options.pad_id = data.pad_id;
  data::Batcher batcher(data.examples, options);
  if (batcher.batches_per_epoch() == 0)
    throw Error(data.source.string() + ": fewer examples than one batch of " + std::to_string(batch_size));
  return batcher;
}

}  // namespace tandem::models
