#include "fuzz_targets.hpp"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "bitstream/manifest.hpp"
#include "bitstream/xclbin.hpp"
#include "data/dataset.hpp"
#include "data/examples.hpp"
#include "io/safetensors.hpp"
#include "models/config.hpp"
#include "sched/rules.hpp"
#include "tandem/error.hpp"
#include "text/tokenizer.hpp"

namespace tandem::fuzz {
namespace {

std::string_view as_text(Bytes data) { return {reinterpret_cast<const char*>(data.data()), data.size()}; }

// The parts of @p text between '\0' bytes; the last part takes the rest, '\0's included.
std::vector<std::string_view> split_parts(std::string_view text, std::size_t parts) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < parts) {
    const std::size_t nul = text.find('\0');
    out.push_back(text.substr(0, nul));
    text = nul == std::string_view::npos ? std::string_view() : text.substr(nul + 1);
  }
  out.push_back(text);
  return out;
}

// A malformed input must end in a tandem::Error whose message is one line and, when @p file
// is given, names the file. Anything else escapes as a different exception type, which
// libFuzzer reports as a crash and GoogleTest as a failure.
void check_message(const Error& e, std::string_view file) {
  const std::string_view message = e.what();
  if (message.empty() || message.find_first_of("\n\r") != std::string_view::npos)
    throw std::logic_error("tandem::Error message is not one non-empty line: [" + std::string(message) + "]");
  if (!file.empty() && message.find(file) == std::string_view::npos)
    throw std::logic_error("tandem::Error message does not name " + std::string(file) + ": " + std::string(message));
}

template <class Body> void errors_only(std::string_view file, Body&& body) {
  try {
    body();
  } catch (const Error& e) {
    check_message(e, file);
  }
}

// Encodes @p text and decodes the ids back: the tokenizer a fuzzed file produced must
// survive use. Ill-formed UTF-8 is reported as an error about the text, not a file.
void exercise(const text::Tokenizer& tokenizer, std::string_view text) {
  errors_only("", [&] {
    const std::vector<std::int32_t> ids = tokenizer.encode(text);
    (void)tokenizer.decode(ids);
  });
  // Ids the vocabulary may not hold: an error naming the id, never a crash.
  std::vector<std::int32_t> arbitrary;
  for (std::size_t i = 0; i + 1 < text.size() && arbitrary.size() < 16; i += 2)
    arbitrary.push_back(static_cast<std::int32_t>(static_cast<unsigned char>(text[i]) << 8 |
                                                  static_cast<unsigned char>(text[i + 1])) - 256);
  errors_only("", [&] { (void)tokenizer.decode(arbitrary); });
}

// The tokenizer .txt and .jsonl datasets are read with: the byte-level BPE fixture.
const text::Tokenizer& dataset_tokenizer() {
  static const std::unique_ptr<text::Tokenizer> tokenizer =
      text::load_tokenizer(std::filesystem::path(TANDEM_FIXTURES) / "tokenizers" / "bpe");
  return *tokenizer;
}

}  // namespace

void safetensors(Bytes data) {
  constexpr std::string_view kName = "fuzz.safetensors";
  errors_only(kName, [&] {
    const io::SafetensorsReader reader(std::as_bytes(data), std::string(kName));
    (void)reader.metadata();
    for (const std::string& name : reader.names()) {
      errors_only(kName, [&] {
        (void)reader.shape(name);
        const std::string dtype = reader.dtype(name);
        if (dtype == "I32" || dtype == "I64") (void)reader.load_ids(name);
        else (void)reader.load(name);
      });
    }
  });
}

void config(Bytes data) {
  constexpr std::string_view kName = "fuzz/config.json";
  errors_only(kName, [&] {
    const models::ModelConfig c = models::parse_config(std::string(as_text(data)), std::string(kName));
    (void)models::architecture_name(c.architecture);
    (void)models::is_bert(c);
  });
}

void bpe(Bytes data) {
  const std::vector<std::string_view> parts = split_parts(as_text(data), 3);
  std::unique_ptr<text::Tokenizer> tokenizer;
  errors_only("fuzz/", [&] { tokenizer = text::parse_bpe_tokenizer(parts[0], parts[1], "fuzz/vocab.json", "fuzz/merges.txt"); });
  if (tokenizer) exercise(*tokenizer, parts[2]);
}

void wordpiece(Bytes data) {
  const std::vector<std::string_view> parts = split_parts(as_text(data), 2);
  for (const bool lowercase : {true, false}) {
    std::unique_ptr<text::Tokenizer> tokenizer;
    errors_only("fuzz/vocab.txt", [&] { tokenizer = text::parse_wordpiece_tokenizer(parts[0], "fuzz/vocab.txt", lowercase); });
    if (tokenizer) exercise(*tokenizer, parts[1]);
  }
}

// Selector byte: bits 0-1 the format (.txt .jsonl .ids .bin), bit 2 labels, bits 3-6 the
// context length - 1 for the examples cut from a dataset that loads.
void dataset(Bytes data) {
  if (data.empty()) return;
  const std::uint8_t selector = data[0];
  const auto format = static_cast<data::Format>(selector & 3);
  constexpr const char* kNames[] = {"fuzz.txt", "fuzz.jsonl", "fuzz.ids", "fuzz.bin"};
  const std::string name = kNames[selector & 3];
  const text::Tokenizer& tokenizer = dataset_tokenizer();
  data::LoadOptions options;
  options.vocab_size = tokenizer.vocab_size();
  options.tokenizer = &tokenizer;
  options.labels = (selector & 4) != 0;
  options.num_labels = options.labels ? 3 : 0;
  const std::int64_t context = 1 + ((selector >> 3) & 15);
  errors_only(name, [&] {
    const data::Dataset d = data::parse_dataset(as_text(data.subspan(1)), format, name, options);
    if (options.labels) (void)data::classification_examples(d, context, {tokenizer.special().bos, tokenizer.special().eos});
    else (void)data::lm_examples(d, context);
  });
}

void rules(Bytes data) {
  constexpr std::string_view kName = "fuzz.rules";
  errors_only(kName, [&] { (void)sched::parse_rules(std::string(as_text(data)), std::string(kName)); });
}

void manifest(Bytes data) {
  constexpr std::string_view kName = "fuzz/manifest.json";
  errors_only(kName, [&] {
    const bitstream::Manifest m = bitstream::parse_manifest(as_text(data), std::string(kName));
    for (const bitstream::ManifestKernel& k : m.kernels)
      for (const auto& [arg, banks] : k.banks)
        for (int cu = 0; cu < k.compute_units; ++cu) (void)k.bank(arg, cu);
  });
}

void xclbin(Bytes data) {
  constexpr std::string_view kName = "fuzz.xclbin";
  errors_only(kName, [&] { (void)bitstream::parse_xclbin(std::as_bytes(data), std::string(kName)); });
}

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"safetensors", safetensors}, {"config", config}, {"bpe", bpe},     {"wordpiece", wordpiece},
      {"dataset", dataset},         {"rules", rules},   {"manifest", manifest}, {"xclbin", xclbin},
  };
  return all;
}

}  // namespace tandem::fuzz
