// `tandem init`: a GPT-2 model directory with freshly initialised weights, the starting point the
// shipped example checkpoint is pre-trained from (examples/README.md).
//
// Initialisation follows Hugging Face's GPT2PreTrainedModel._init_weights (transformers
// modeling_gpt2.py): weights and embeddings N(0, initializer_range), the two residual output
// projections (attn.c_proj, mlp.c_proj) N(0, initializer_range / sqrt(2 * n_layer)), biases 0,
// LayerNorm weight 1 and bias 0. Normals come from std::mt19937_64 through Box-Muller written
// here, so a seed gives the same weights with any standard library.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "io/atomic_file.hpp"
#include "models/config.hpp"
#include "models/model.hpp"
#include "tandem/error.hpp"
#include "text/bpe.hpp"

namespace tandem::cli {
namespace {

namespace fs = std::filesystem;

constexpr std::int32_t kByteTokens = 256;

struct InitOptions {
  std::string config;
  std::string out;
  std::uint64_t seed = 0;
  bool byte_tokenizer = false;
};

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(file.string() + ": cannot open", ErrorCategory::Io);
  std::ostringstream s;
  s << in.rdbuf();
  return std::move(s).str();
}

// initializer_range from the config text (GPT-2's default 0.02 when absent).
double initializer_range(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_object() && j.contains("initializer_range") && j["initializer_range"].is_number())
    return j["initializer_range"].get<double>();
  return 0.02;
}

class NormalSource {
 public:
  explicit NormalSource(std::uint64_t seed) : rng_(seed) {}
  // One N(0, 1) draw (Box-Muller; the second value of each pair is discarded for simplicity).
  double next() {
    const double u1 = (static_cast<double>(rng_() >> 11) + 1.0) * 0x1p-53;  // (0, 1]
    const double u2 = static_cast<double>(rng_() >> 11) * 0x1p-53;         // [0, 1)
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
  }

 private:
  std::mt19937_64 rng_;
};

// Parameters of rank >= 2 (weights, embeddings) get normals; the model already holds zero biases
// and LayerNorm weights of one.
void initialise(models::Model& model, double range, std::uint64_t seed) {
  NormalSource normal(seed);
  const double residual_std = range / std::sqrt(2.0 * static_cast<double>(model.config().layers));
  for (models::Parameter& p : model.parameters()) {
    if (p.value.shape().rank() < 2) continue;
    const double sd = p.name.ends_with("c_proj.weight") ? residual_std : range;
    float* v = p.value.data<float>();
    for (std::int64_t i = 0; i < p.value.numel(); ++i) v[i] = static_cast<float>(sd * normal.next());
  }
}

// A byte-level BPE tokenizer without merges: token i is byte i (spelled as GPT-2's vocab.json
// spells bytes) and <|endoftext|> is 256. Every text encodes to its UTF-8 bytes.
void write_byte_tokenizer(const fs::path& dir, std::int64_t vocab_size) {
  if (vocab_size < kByteTokens + 1) {
    throw Error(dir.string() + ": --byte-tokenizer needs vocab_size >= 257 in the config, it is " + std::to_string(vocab_size));
  }
  nlohmann::json vocab = nlohmann::json::object();
  for (std::int32_t b = 0; b < kByteTokens; ++b)
    vocab[text::byte_level_string(std::string(1, static_cast<char>(b)))] = b;
  vocab["<|endoftext|>"] = kByteTokens;
  const std::string vocab_text = vocab.dump() + "\n";
  const std::string merges_text = "#version: 0.2\n";
  io::write_file_atomically(dir / "vocab.json", std::as_bytes(std::span<const char>(vocab_text.data(), vocab_text.size())));
  io::write_file_atomically(dir / "merges.txt", std::as_bytes(std::span<const char>(merges_text.data(), merges_text.size())));
}

void run_init(const InitOptions& o) {
  const std::string text = read_text(o.config);
  const models::ModelConfig config = models::parse_config(text, o.config);
  if (config.architecture != models::Architecture::Gpt2LMHead) {
    throw Error(o.config + ": init supports GPT2LMHeadModel only, the config is " + architecture_name(config.architecture));
  }
  models::check_fits_in_memory(config, o.config);
  std::unique_ptr<models::Model> model = models::make_model(config);
  initialise(*model, initializer_range(text), o.seed);
  models::save_model(*model, o.out);
  if (o.byte_tokenizer) write_byte_tokenizer(o.out, config.vocab);
  std::int64_t count = 0;
  for (const models::Parameter& p : model->parameters()) count += p.value.numel();
  std::printf("wrote %s: %lld parameters, seed %llu%s\n", o.out.c_str(), static_cast<long long>(count),
              static_cast<unsigned long long>(o.seed), o.byte_tokenizer ? ", byte tokenizer" : "");
}

}  // namespace

void add_init_command(CLI::App& app) {
  auto o = std::make_shared<InitOptions>();
  auto* cmd = app.add_subcommand("init", "A GPT-2 model directory with random weights (Hugging Face's GPT-2 initialisation)");
  cmd->add_option("--config", o->config, "GPT-2 config.json to initialise")->required();
  cmd->add_option("--out", o->out, "Model directory to write (config.json, model.safetensors)")->required();
  cmd->add_option("--seed", o->seed, "Random seed: the same seed gives the same weights")->capture_default_str();
  cmd->add_flag("--byte-tokenizer", o->byte_tokenizer, "Also write vocab.json + merges.txt of 256 byte tokens and <|endoftext|>");
  cmd->callback([o] { run_init(*o); });
}

}  // namespace tandem::cli
