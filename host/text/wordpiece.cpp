#include "text/wordpiece.hpp"

#include <optional>

#include "tandem/error.hpp"
#include "text/unicode.hpp"

namespace tandem::text {
namespace {

constexpr std::string_view kContinuation = "##";

bool is_bert_whitespace(char32_t c) {
  return c == U'\t' || c == U'\n' || c == U'\r' || unicode::is_whitespace(c);
}

// Tab, newline and carriage return count as whitespace, not as control characters.
bool is_bert_control(char32_t c) {
  return c != U'\t' && c != U'\n' && c != U'\r' && unicode::is_other(c);
}

bool is_bert_punctuation(char32_t c) {
  const bool ascii = (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
                     (c >= 123 && c <= 126);
  return ascii || unicode::is_punctuation(c);
}

// BERT's "Chinese character" blocks (CJK Unified Ideographs and their extensions and
// compatibility blocks), as listed in Google's tokenization.py and Hugging Face's BertNormalizer.
bool is_cjk_ideograph(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Clean-up and CJK spacing, the steps BertNormalizer runs whether or not it lowercases.
std::u32string clean_and_space_cjk(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (const char32_t c : text) {
    if (c == 0 || c == 0xFFFD || is_bert_control(c)) continue;
    if (is_bert_whitespace(c)) {
      out.push_back(U' ');
    } else if (is_cjk_ideograph(c)) {
      out.append({U' ', c, U' '});
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// NFD with nonspacing marks removed, then lowercased one code point at a time (Hugging Face
// strips accents before lowercasing, and maps each character without context).
std::u32string strip_accents_and_lowercase(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (const char32_t c : unicode::nfd(text)) {
    if (!unicode::is_nonspacing_mark(c)) unicode::append_lowercase(c, out);
  }
  return out;
}

// Hugging Face's WordPiece decoder clean-up, applied to each token with its leading space.
void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (std::size_t pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
}

void cleanup(std::string& token) {
  replace_all(token, " .", ".");
  replace_all(token, " ?", "?");
  replace_all(token, " !", "!");
  replace_all(token, " ,", ",");
  replace_all(token, " ' ", "'");
  replace_all(token, " n't", "n't");
  replace_all(token, " 'm", "'m");
  replace_all(token, " do not", " don't");
  replace_all(token, " 's", "'s");
  replace_all(token, " 've", "'ve");
  replace_all(token, " 're", "'re");
}

}  // namespace

std::vector<std::u32string> bert_words(std::string_view text, bool lowercase) {
  std::u32string normalized = clean_and_space_cjk(unicode::decode_utf8(text, "WordPiece::encode"));
  if (lowercase) normalized = strip_accents_and_lowercase(normalized);

  std::vector<std::u32string> words;
  std::u32string word;
  const auto flush = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  for (const char32_t c : normalized) {
    if (unicode::is_whitespace(c)) {
      flush();
    } else if (is_bert_punctuation(c)) {
      flush();
      words.emplace_back(1, c);
    } else {
      word.push_back(c);
    }
  }
  flush();
  return words;
}

WordPiece::WordPiece(Vocab vocab, bool lowercase) : vocab_(std::move(vocab)), lowercase_(lowercase) {
  const auto unk = vocab_.id("[UNK]");
  if (!unk) throw Error("WordPiece: the vocabulary has no [UNK] token");
  unk_ = *unk;
  special_.unk = unk_;
  special_.cls = vocab_.id("[CLS]");
  special_.sep = vocab_.id("[SEP]");
  special_.pad = vocab_.id("[PAD]");
  special_.mask = vocab_.id("[MASK]");
}

void WordPiece::encode_word(std::u32string_view word, std::vector<std::int32_t>& ids) const {
  if (word.size() > kMaxWordPieceChars) {
    ids.push_back(unk_);
    return;
  }
  // offsets[i] is the UTF-8 byte offset of code point i; pieces end on code point boundaries.
  std::string utf8;
  std::vector<std::size_t> offsets;
  offsets.reserve(word.size() + 1);
  for (const char32_t c : word) {
    offsets.push_back(utf8.size());
    unicode::append_utf8(c, utf8);
  }
  offsets.push_back(utf8.size());

  // Greedy longest match first: the longest vocabulary piece at each position, "##"-prefixed
  // after the first; a position with no piece makes the whole word [UNK].
  const std::size_t first = ids.size();
  std::string candidate;
  for (std::size_t start = 0; start < word.size();) {
    std::size_t end = word.size();
    std::optional<std::int32_t> id;
    for (; end > start; --end) {
      candidate.assign(start > 0 ? kContinuation : std::string_view{});
      candidate.append(utf8, offsets[start], offsets[end] - offsets[start]);
      id = vocab_.id(candidate);
      if (id) break;
    }
    if (!id) {
      ids.resize(first);
      ids.push_back(unk_);
      return;
    }
    ids.push_back(*id);
    start = end;
  }
}

std::vector<std::int32_t> WordPiece::encode(std::string_view text) const {
  std::vector<std::int32_t> ids;
  for (const std::u32string& word : bert_words(text, lowercase_)) encode_word(word, ids);
  return ids;
}

std::string WordPiece::decode(std::span<const std::int32_t> ids) const {
  std::string text;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::string* token = vocab_.token(ids[i]);
    if (token == nullptr) {
      throw Error("WordPiece::decode: id " + std::to_string(ids[i]) + " is not in the vocabulary");
    }
    std::string piece;
    if (i == 0) {
      piece = *token;
    } else if (token->starts_with(kContinuation)) {
      piece = token->substr(kContinuation.size());
    } else {
      piece = " " + *token;
    }
    cleanup(piece);
    text += piece;
  }
  return text;
}

}  // namespace tandem::text
