#include "text/tokenizer.hpp"

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tandem/error.hpp"
#include "text/bpe.hpp"
#include "text/unicode.hpp"
#include "text/vocab.hpp"
#include "text/wordpiece.hpp"

namespace tandem::text {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const fs::path& file, const std::string& problem) {
  throw Error(file.string() + ": " + problem, ErrorCategory::Io);
}

// A token as a JSON string literal, so that spaces, quotes and control characters stay on one line.
std::string quoted(const std::string& token) {
  return nlohmann::json(token).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(file, "cannot open");
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) fail(file, "read failed");
  return std::move(content).str();
}

// Lines as Rust's BufRead::lines yields them: split at '\n', one trailing '\r' removed, and no
// empty line after a final '\n'.
std::vector<std::string_view> split_lines(std::string_view content) {
  std::vector<std::string_view> lines;
  while (!content.empty()) {
    const std::size_t end = content.find('\n');
    std::string_view line = content.substr(0, end);
    if (line.ends_with('\r')) line.remove_suffix(1);
    lines.push_back(line);
    if (end == std::string_view::npos) break;
    content.remove_prefix(end + 1);
  }
  return lines;
}

// Library messages (nlohmann's parse errors quote the input) must not break the one-line rule.
std::string one_line(std::string text) {
  std::replace_if(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

// vocab.json: one object of token -> id, ids distinct and in [0, 2^31).
Vocab parse_bpe_vocab(std::string_view content, const fs::path& file) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(content);
  } catch (const nlohmann::json::exception& e) {
    fail(file, "not valid JSON (" + one_line(e.what()) + ")");
  }
  if (!json.is_object()) fail(file, "expected an object of token -> id");
  if (json.empty()) fail(file, "the vocabulary is empty");
  Vocab vocab;
  for (const auto& [token, value] : json.items()) {
    if (!value.is_number_integer()) fail(file, "the id of " + quoted(token) + " is not an integer");
    constexpr auto kMaxId = static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max());
    const bool in_range = value.is_number_unsigned() ? value.get<std::uint64_t>() <= kMaxId
                                                     : value.get<std::int64_t>() >= 0 &&
                                                           value.get<std::int64_t>() <= std::int64_t{kMaxId};
    if (!in_range) fail(file, "the id of " + quoted(token) + " is out of range: " + value.dump());
    const auto id32 = value.get<std::int32_t>();
    if (const std::string* other = vocab.token(id32)) {
      fail(file, "id " + std::to_string(id32) + " is given to both " + quoted(*other) + " and " + quoted(token));
    }
    vocab.add(token, id32);
  }
  return vocab;
}

std::int32_t merge_part_id(const Vocab& vocab, std::string_view token, const fs::path& file,
                           std::size_t line_number) {
  const auto id = vocab.id(token);
  if (!id) {
    fail(file, "line " + std::to_string(line_number) + ": token " + quoted(std::string(token)) +
                   " is not in vocab.json");
  }
  return *id;
}

// merges.txt: "#version" lines skipped, every other line "left right" with left, right and
// their concatenation in the vocabulary (Hugging Face rejects the same lines).
std::vector<BpeMerge> parse_merges(std::string_view content, const fs::path& file, const Vocab& vocab) {
  std::vector<BpeMerge> merges;
  std::size_t line_number = 0;
  for (const std::string_view line : split_lines(content)) {
    ++line_number;
    if (line.starts_with("#version")) continue;
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos) {
      fail(file, "line " + std::to_string(line_number) + ": expected two tokens separated by one space");
    }
    const std::string_view left = line.substr(0, space);
    const std::string_view right = line.substr(space + 1);
    BpeMerge merge;
    merge.left = merge_part_id(vocab, left, file, line_number);
    merge.right = merge_part_id(vocab, right, file, line_number);
    merge.merged = merge_part_id(vocab, std::string(left) + std::string(right), file, line_number);
    merges.push_back(merge);
  }
  return merges;
}

// vocab.txt: token of line i has id i, trailing whitespace trimmed. A repeated token keeps its
// last line's id, as in Hugging Face.
Vocab parse_wordpiece_vocab(std::string_view content, const fs::path& file) {
  const std::vector<std::string_view> lines = split_lines(content);
  if (lines.empty()) fail(file, "the vocabulary is empty");
  if (lines.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    fail(file, "more than 2^31 - 1 tokens");
  }
  Vocab vocab;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::u32string token;
    try {
      token = unicode::decode_utf8(lines[i], "line " + std::to_string(i + 1));
    } catch (const Error& e) {
      fail(file, e.what());
    }
    while (!token.empty() && unicode::is_whitespace(token.back())) token.pop_back();
    vocab.add(unicode::encode_utf8(token), static_cast<std::int32_t>(i));
  }
  if (!vocab.id("[UNK]")) fail(file, "no [UNK] token");
  return vocab;
}

std::unique_ptr<Tokenizer> load_bpe(const fs::path& dir) {
  const fs::path vocab_file = dir / "vocab.json";
  const fs::path merges_file = dir / "merges.txt";
  if (!fs::is_regular_file(vocab_file)) fail(vocab_file, "missing (byte-level BPE needs vocab.json and merges.txt)");
  if (!fs::is_regular_file(merges_file)) fail(merges_file, "missing (byte-level BPE needs vocab.json and merges.txt)");
  return parse_bpe_tokenizer(read_file(vocab_file), read_file(merges_file), vocab_file, merges_file);
}

}  // namespace

std::unique_ptr<Tokenizer> parse_bpe_tokenizer(std::string_view vocab_json, std::string_view merges_txt,
                                               const std::filesystem::path& vocab_file,
                                               const std::filesystem::path& merges_file) {
  Vocab vocab = parse_bpe_vocab(vocab_json, vocab_file);
  const std::vector<BpeMerge> merges = parse_merges(merges_txt, merges_file, vocab);
  return std::make_unique<ByteLevelBpe>(std::move(vocab), merges);
}

std::unique_ptr<Tokenizer> parse_wordpiece_tokenizer(std::string_view vocab_txt, const std::filesystem::path& vocab_file,
                                                     bool lowercase) {
  return std::make_unique<WordPiece>(parse_wordpiece_vocab(vocab_txt, vocab_file), lowercase);
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir, bool lowercase) {
  if (!fs::is_directory(model_dir)) fail(model_dir, "not a directory");
  if (fs::exists(model_dir / "vocab.json") || fs::exists(model_dir / "merges.txt")) return load_bpe(model_dir);
  const fs::path wordpiece_vocab = model_dir / "vocab.txt";
  if (fs::exists(wordpiece_vocab)) {
    return parse_wordpiece_tokenizer(read_file(wordpiece_vocab), wordpiece_vocab, lowercase);
  }
  fail(model_dir, "no tokenizer files (vocab.json + merges.txt, or vocab.txt)");
}

}  // namespace tandem::text
