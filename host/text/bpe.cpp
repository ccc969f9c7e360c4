#include "text/bpe.hpp"

#include <array>
#include <functional>
#include <queue>

#include "tandem/error.hpp"
#include "text/unicode.hpp"

namespace tandem::text {
namespace {

constexpr std::size_t kShiftedBytes = 68;  // bytes that are not printable Latin-1

constexpr bool is_printable_byte(std::uint32_t b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

constexpr std::array<char32_t, 256> make_byte_table() {
  std::array<char32_t, 256> table{};
  char32_t next_shifted = 0x100;
  for (std::uint32_t b = 0; b < 256; ++b) {
    table[b] = is_printable_byte(b) ? static_cast<char32_t>(b) : next_shifted++;
  }
  return table;
}

constexpr std::array<char32_t, 256> kByteToUnicode = make_byte_table();

enum class CharClass { Letter, Number, Space, Other };

CharClass classify(char32_t c) {
  if (unicode::is_whitespace(c)) return CharClass::Space;
  if (unicode::is_letter(c)) return CharClass::Letter;
  if (unicode::is_number(c)) return CharClass::Number;
  return CharClass::Other;
}

// Length of the 's|'t|'re|'ve|'m|'ll|'d alternative at @p i, 0 when it does not match.
std::size_t contraction_length(std::u32string_view text, std::size_t i) {
  if (text[i] != U'\'' || i + 1 >= text.size()) return 0;
  const char32_t a = text[i + 1];
  if (a == U's' || a == U't' || a == U'm' || a == U'd') return 2;
  if (i + 2 >= text.size()) return 0;
  const char32_t b = text[i + 2];
  const bool two = (a == U'r' && b == U'e') || (a == U'v' && b == U'e') || (a == U'l' && b == U'l');
  return two ? 3 : 0;
}

// Length of the pre-token starting at @p i: the first alternative of the pattern that matches.
std::size_t pretoken_length(std::u32string_view text, std::span<const CharClass> classes, std::size_t i) {
  if (const std::size_t n = contraction_length(text, i); n > 0) return n;
  const std::size_t size = text.size();
  // " ?\p{L}+", " ?\p{N}+" and " ?[^\s\p{L}\p{N}]+": an optional U+0020, then a run of one class.
  const bool space_then_word = text[i] == U' ' && i + 1 < size && classes[i + 1] != CharClass::Space;
  const std::size_t start = space_then_word ? i + 1 : i;
  std::size_t end = start;
  while (end < size && classes[end] == classes[start]) ++end;
  if (classes[start] != CharClass::Space) return end - i;
  // "\s+(?!\S)" leaves the last blank of a run for the word after it; "\s+" takes a lone blank.
  const std::size_t blanks = end - i;
  return end == size || blanks == 1 ? blanks : blanks - 1;
}

}  // namespace

// A hand-written scanner rather than ICU's RegexMatcher: ICU defines \s as [\t\n\f\r\p{Z}]
// (ICU User Guide, "Regular Expressions"), which misses U+000B and U+0085 that Oniguruma's \s
// (what Hugging Face runs) matches, and a matcher would need the text in UTF-16 on every call.
// Each alternative of the pattern is a run of one character class, so one pass over the
// classes gives the same leftmost-alternative matches in linear time.
std::vector<std::pair<std::size_t, std::size_t>> gpt2_pretokenize(std::u32string_view text) {
  std::vector<CharClass> classes(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) classes[i] = classify(text[i]);
  std::vector<std::pair<std::size_t, std::size_t>> pieces;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t end = i + pretoken_length(text, classes, i);
    pieces.emplace_back(i, end);
    i = end;
  }
  return pieces;
}

char32_t byte_to_unicode(std::uint8_t byte) { return kByteToUnicode[byte]; }

std::optional<std::uint8_t> unicode_to_byte(char32_t c) {
  if (c < 0x100) {
    if (is_printable_byte(c)) return static_cast<std::uint8_t>(c);
    return std::nullopt;
  }
  if (c >= 0x100 + kShiftedBytes) return std::nullopt;
  // The shifted code points were handed out in byte order; find the byte that got this one.
  for (std::uint32_t b = 0; b < 256; ++b) {
    if (kByteToUnicode[b] == c) return static_cast<std::uint8_t>(b);
  }
  return std::nullopt;
}

std::string byte_level_string(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char b : bytes) unicode::append_utf8(byte_to_unicode(static_cast<std::uint8_t>(b)), out);
  return out;
}

ByteLevelBpe::ByteLevelBpe(Vocab vocab, std::span<const BpeMerge> merges)
    : vocab_(std::move(vocab)), byte_ids_(256, -1) {
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const BpeMerge& m = merges[rank];
    const std::uint64_t key = (std::uint64_t{static_cast<std::uint32_t>(m.left)} << 32) |
                              static_cast<std::uint32_t>(m.right);
    ranks_.insert_or_assign(key, Rank{static_cast<std::int32_t>(rank), m.merged});
  }
  for (std::uint32_t b = 0; b < 256; ++b) {
    const std::string symbol = byte_level_string(std::string(1, static_cast<char>(b)));
    byte_ids_[b] = vocab_.id(symbol).value_or(-1);
  }
  special_.bos = special_.eos = vocab_.id("<|endoftext|>");
}

std::optional<ByteLevelBpe::Rank> ByteLevelBpe::rank_of(std::int32_t left, std::int32_t right) const {
  const std::uint64_t key =
      (std::uint64_t{static_cast<std::uint32_t>(left)} << 32) | static_cast<std::uint32_t>(right);
  const auto it = ranks_.find(key);
  if (it == ranks_.end()) return std::nullopt;
  return it->second;
}

void ByteLevelBpe::encode_piece(std::string_view bytes, std::vector<std::int32_t>& ids) const {
  // The piece as a linked list of symbols; a merge keeps the left symbol and unlinks the right.
  struct Symbol {
    std::int32_t id;
    std::ptrdiff_t prev, next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(bytes.size());
  for (const char b : bytes) {
    // A byte without a symbol in the vocabulary is dropped, as Hugging Face does without an unk.
    const std::int32_t id = byte_ids_[static_cast<std::uint8_t>(b)];
    if (id < 0) continue;
    const auto index = static_cast<std::ptrdiff_t>(symbols.size());
    symbols.push_back({id, index - 1, index + 1, true});
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  // Lowest rank first; among equal ranks (the same pair) the leftmost, like GPT-2's loop.
  struct Candidate {
    std::int32_t rank;
    std::ptrdiff_t pos;
  };
  const auto after = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(after)> queue(after);
  const auto push_pair = [&](std::ptrdiff_t pos) {
    const Symbol& left = symbols[static_cast<std::size_t>(pos)];
    if (left.next < 0) return;
    if (const auto r = rank_of(left.id, symbols[static_cast<std::size_t>(left.next)].id)) {
      queue.push({r->rank, pos});
    }
  };
  for (std::size_t i = 0; i + 1 < symbols.size(); ++i) push_pair(static_cast<std::ptrdiff_t>(i));

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<std::size_t>(top.pos)];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[static_cast<std::size_t>(left.next)];
    const auto r = rank_of(left.id, right.id);
    if (!r || r->rank != top.rank) continue;  // stale: a neighbour merged since this was queued
    left.id = r->merged;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<std::size_t>(right.next)].prev = top.pos;
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(top.pos);
  }
  for (std::ptrdiff_t i = 0; i >= 0; i = symbols[static_cast<std::size_t>(i)].next) {
    ids.push_back(symbols[static_cast<std::size_t>(i)].id);
  }
}

std::vector<std::int32_t> ByteLevelBpe::encode(std::string_view text) const {
  const std::u32string chars = unicode::decode_utf8(text, "ByteLevelBpe::encode");
  std::vector<std::int32_t> ids;
  std::size_t byte_begin = 0;
  for (const auto& [begin, end] : gpt2_pretokenize(chars)) {
    std::size_t byte_end = byte_begin;
    for (std::size_t i = begin; i < end; ++i) byte_end += unicode::utf8_length(chars[i]);
    encode_piece(text.substr(byte_begin, byte_end - byte_begin), ids);
    byte_begin = byte_end;
  }
  return ids;
}

std::string ByteLevelBpe::decode(std::span<const std::int32_t> ids) const {
  std::string bytes;
  for (const std::int32_t id : ids) {
    const std::string* token = vocab_.token(id);
    if (token == nullptr) {
      throw Error("ByteLevelBpe::decode: id " + std::to_string(id) + " is not in the vocabulary");
    }
    // A token with a character outside the byte table (an added token) stands for its own
    // UTF-8, as in Hugging Face's ByteLevel decoder.
    std::string token_bytes;
    bool byte_level = true;
    for (const char32_t c : unicode::decode_utf8(*token, "ByteLevelBpe::decode")) {
      const auto b = unicode_to_byte(c);
      if (!b) {
        byte_level = false;
        break;
      }
      token_bytes.push_back(static_cast<char>(*b));
    }
    bytes += byte_level ? token_bytes : *token;
  }
  return unicode::utf8_lossy(bytes);
}

}  // namespace tandem::text
