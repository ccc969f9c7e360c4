#pragma once
// Tokenizers as Hugging Face ships them: GPT-2's byte-level BPE (vocab.json + merges.txt)
// and BERT's WordPiece (vocab.txt). Both give the same ids as the Hugging Face
// `tokenizers` library (tests/text, fixtures in tests/fixtures/tokenizers).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::text {

// Ids of the special tokens a model's vocabulary defines; absent ones are nullopt.
struct SpecialTokens {
  std::optional<std::int32_t> bos, eos, pad, unk, cls, sep, mask;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Ids of @p text without special tokens added (no [CLS]/[SEP], no <|endoftext|>). Text that
  // spells a special token is encoded as ordinary text, not as that token's id (as Hugging Face
  // does for registered added tokens); callers insert special ids themselves. Ill-formed UTF-8 is a tandem::Error.
  [[nodiscard]] virtual std::vector<std::int32_t> encode(std::string_view text) const = 0;
  // Text of @p ids; ids outside the vocabulary are an error naming the id.
  [[nodiscard]] virtual std::string decode(std::span<const std::int32_t> ids) const = 0;
  [[nodiscard]] virtual std::int32_t vocab_size() const = 0;
  [[nodiscard]] virtual const SpecialTokens& special() const = 0;
};

// The tokenizer stored in a model directory: vocab.json + merges.txt (byte-level BPE) or
// vocab.txt (WordPiece; @p lowercase as BERT-uncased does: lowercase and strip accents). When a
// directory has both, vocab.json + merges.txt win. A missing or malformed file is a
// tandem::Error (category Io) naming the file; a WordPiece vocab.txt must contain [UNK].
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir, bool lowercase = true);

// The same tokenizers from file contents already in memory (for fuzzing and for callers that
// hold the files); the paths only name the files in messages.
std::unique_ptr<Tokenizer> parse_bpe_tokenizer(std::string_view vocab_json, std::string_view merges_txt,
                                               const std::filesystem::path& vocab_file,
                                               const std::filesystem::path& merges_file);
std::unique_ptr<Tokenizer> parse_wordpiece_tokenizer(std::string_view vocab_txt, const std::filesystem::path& vocab_file,
                                                     bool lowercase = true);

}  // namespace tandem::text
