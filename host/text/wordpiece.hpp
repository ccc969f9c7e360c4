#pragma once
// BERT's WordPiece as Hugging Face `tokenizers` runs it: BertNormalizer, BertPreTokenizer,
// the WordPiece model ("##" continuations, [UNK]) and the WordPiece decoder.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer.hpp"
#include "text/vocab.hpp"

namespace tandem::text {

// Longer words (in code points, after normalisation) become [UNK] whole, as in BERT.
inline constexpr std::size_t kMaxWordPieceChars = 100;

// BERT's basic tokenisation of @p text: drop NUL, U+FFFD and control/format/unassigned code
// points; turn whitespace into spaces; put spaces around CJK ideographs; when @p lowercase, NFD,
// strip nonspacing marks and lowercase; then split on whitespace and isolate punctuation.
std::vector<std::u32string> bert_words(std::string_view text, bool lowercase);

class WordPiece final : public Tokenizer {
 public:
  // @p vocab must hold [UNK]; [CLS] [SEP] [PAD] [UNK] [MASK] fill special() when present.
  WordPiece(Vocab vocab, bool lowercase);

  [[nodiscard]] std::vector<std::int32_t> encode(std::string_view text) const override;
  // Hugging Face's WordPiece decoder: tokens joined by spaces, "##" pieces glued to the one
  // before, and its clean-up of spaces before punctuation and contractions.
  [[nodiscard]] std::string decode(std::span<const std::int32_t> ids) const override;
  [[nodiscard]] std::int32_t vocab_size() const override { return vocab_.size(); }
  [[nodiscard]] const SpecialTokens& special() const override { return special_; }

 private:
  void encode_word(std::u32string_view word, std::vector<std::int32_t>& ids) const;

  Vocab vocab_;
  bool lowercase_;
  std::int32_t unk_;
  SpecialTokens special_;
};

}  // namespace tandem::text
