#pragma once
// GPT-2's byte-level BPE as Hugging Face `tokenizers` runs it (ByteLevel pre-tokenizer without
// a prefix space, BPE model without dropout or unknown token, ByteLevel decoder).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "text/tokenizer.hpp"
#include "text/vocab.hpp"

namespace tandem::text {

// One merges.txt line resolved to ids: left followed by right becomes merged.
struct BpeMerge {
  std::int32_t left = 0, right = 0, merged = 0;
};

// [begin, end) code-point ranges of GPT-2's pre-tokens of @p text, in order, covering it. They are
// the matches of 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// with Oniguruma's semantics (leftmost alternative wins, \s is the White_Space property).
std::vector<std::pair<std::size_t, std::size_t>> gpt2_pretokenize(std::u32string_view text);

// GPT-2's reversible byte -> printable code point table: printable Latin-1 bytes map to
// themselves, the other 68 bytes to U+0100 onwards in byte order.
char32_t byte_to_unicode(std::uint8_t byte);
std::optional<std::uint8_t> unicode_to_byte(char32_t c);
// @p bytes spelled with byte_to_unicode, as UTF-8: the form vocab.json and merges.txt use.
std::string byte_level_string(std::string_view bytes);

class ByteLevelBpe final : public Tokenizer {
 public:
  // @p merges in rank order (first = applied first). A pair listed twice keeps its last rank,
  // as Hugging Face's loader does.
  ByteLevelBpe(Vocab vocab, std::span<const BpeMerge> merges);

  [[nodiscard]] std::vector<std::int32_t> encode(std::string_view text) const override;
  [[nodiscard]] std::string decode(std::span<const std::int32_t> ids) const override;
  [[nodiscard]] std::int32_t vocab_size() const override { return vocab_.size(); }
  [[nodiscard]] const SpecialTokens& special() const override { return special_; }

 private:
  struct Rank {
    std::int32_t rank = 0, merged = 0;
  };
  [[nodiscard]] std::optional<Rank> rank_of(std::int32_t left, std::int32_t right) const;
  void encode_piece(std::string_view bytes, std::vector<std::int32_t>& ids) const;

  Vocab vocab_;
  std::unordered_map<std::uint64_t, Rank> ranks_;  // key: left << 32 | right
  std::vector<std::int32_t> byte_ids_;             // (256,) id of each byte's symbol, -1 if absent
  SpecialTokens special_;
};

}  // namespace tandem::text
