#include "data/dataset.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <nlohmann/json.hpp>

#include "tandem/error.hpp"
#include "text/tokenizer.hpp"

namespace tandem::data {
namespace {

// llm.c shard header: 256 int32; [0] magic, [1] version, [2] token count.
constexpr std::size_t kBinHeaderInts = 256;
constexpr std::size_t kBinHeaderBytes = kBinHeaderInts * 4;

struct BinKind {
  std::int32_t magic;
  std::int32_t version;
  std::size_t token_bytes;
};
constexpr std::array<BinKind, 2> kBinKinds{{{20240520, 1, 2}, {20240801, 7, 4}}};

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw Error(path.string() + ": " + what, ErrorCategory::Io);
}

[[noreturn]] void fail_at(const std::filesystem::path& path, std::size_t line, const std::string& what) {
  throw Error(path.string() + ":" + std::to_string(line) + ": " + what, ErrorCategory::Io);
}

// Library messages (nlohmann's parse errors quote the input) must not break the one-line rule.
std::string one_line(std::string text) {
  std::replace_if(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

std::string out_of_range(std::int64_t id, std::int32_t vocab_size) {
  return "token id " + std::to_string(id) + " out of range [0, " + std::to_string(vocab_size) + ")";
}

std::string read_bytes(const std::filesystem::path& path) {
  // A directory opens as a stream on Linux and reports a meaningless size.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(path, "cannot open dataset file: missing or not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open dataset file");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (size < 0) fail(path, "cannot determine the file size");
  std::string bytes(static_cast<std::size_t>(size), '\0');
  if (!in.read(bytes.data(), size)) fail(path, "read error");
  return bytes;
}

bool is_blank(std::string_view line) {
  return std::all_of(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; });
}

// Calls @p visit(line_number, line) for each line, 1-based, without the '\n' or a trailing '\r'.
template <class Visit> void for_each_line(std::string_view text, Visit&& visit) {
  std::size_t number = 1;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    visit(number, line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
    ++number;
  }
}

const text::Tokenizer& require_tokenizer(const std::filesystem::path& path, const LoadOptions& options) {
  if (options.tokenizer == nullptr) throw Error(path.string() + ": a tokenizer is needed to read this format");
  return *options.tokenizer;
}

void check_ids(const std::filesystem::path& path, std::size_t line, const std::vector<std::int32_t>& ids,
               std::int32_t vocab_size) {
  for (const std::int32_t id : ids) {
    if (id < 0 || id >= vocab_size) fail_at(path, line, out_of_range(id, vocab_size));
  }
}

// The ids of @p text, which starts on @p line; a tokenizer error (ill-formed UTF-8) is reported
// against the file.
std::vector<std::int32_t> encode_at(const std::filesystem::path& path, std::size_t line, const text::Tokenizer& tokenizer,
                                    const std::string& text) {
  try {
    return tokenizer.encode(text);
  } catch (const Error& e) {
    fail_at(path, line, std::string("cannot tokenize the text starting on this line: ") + e.what());
  }
}

// The blank-line-separated documents of a text file with the line each starts on.
struct Document {
  std::size_t line;
  std::string text;
};

std::vector<Document> split_documents(std::string_view content) {
  std::vector<Document> docs;
  std::optional<Document> current;
  for_each_line(content, [&](std::size_t number, std::string_view line) {
    if (is_blank(line)) {
      if (current) docs.push_back(std::move(*current));
      current.reset();
      return;
    }
    if (!current) current = Document{number, {}};
    else current->text += '\n';
    current->text += line;
  });
  if (current) docs.push_back(std::move(*current));
  return docs;
}

Dataset parse_text(const std::filesystem::path& path, std::string_view content, const LoadOptions& options) {
  const text::Tokenizer& tokenizer = require_tokenizer(path, options);
  const std::optional<std::int32_t> eos = tokenizer.special().eos;
  // Without an eos id the blank lines are the only document boundary, so they stay in the text.
  const std::vector<Document> docs = eos ? split_documents(content) : std::vector<Document>{Document{1, std::string(content)}};
  if (eos && (*eos < 0 || *eos >= options.vocab_size)) fail(path, "eos " + out_of_range(*eos, options.vocab_size));
  std::vector<std::int32_t> stream;
  for (const Document& doc : docs) {
    const std::vector<std::int32_t> ids = encode_at(path, doc.line, tokenizer, doc.text);
    if (ids.empty()) continue;
    check_ids(path, doc.line, ids, options.vocab_size);
    if (eos && !stream.empty()) stream.push_back(*eos);
    stream.insert(stream.end(), ids.begin(), ids.end());
  }
  Dataset dataset{path, {}, {}};
  if (!stream.empty()) dataset.sequences.push_back(std::move(stream));
  return dataset;
}

std::int32_t read_label(const std::filesystem::path& path, std::size_t line, const nlohmann::json& object,
                        std::int32_t num_labels) {
  const auto it = object.find("label");
  if (it == object.end()) fail_at(path, line, "missing \"label\"");
  if (!it->is_number_integer()) fail_at(path, line, "\"label\" is not an integer");
  const std::int64_t label = it->get<std::int64_t>();
  const std::int64_t limit = num_labels > 0 ? num_labels : std::numeric_limits<std::int32_t>::max();
  if (label < 0 || label >= limit) {
    fail_at(path, line, "label " + std::to_string(label) + " out of range [0, " + std::to_string(limit) + ")");
  }
  return static_cast<std::int32_t>(label);
}

Dataset parse_jsonl(const std::filesystem::path& path, std::string_view content, const LoadOptions& options) {
  const text::Tokenizer& tokenizer = require_tokenizer(path, options);
  Dataset dataset{path, {}, {}};
  for_each_line(content, [&](std::size_t number, std::string_view line) {
    if (is_blank(line)) return;
    nlohmann::json object;
    try {
      object = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail_at(path, number, "invalid JSON: " + one_line(e.what()));
    }
    if (!object.is_object()) fail_at(path, number, "expected a JSON object");
    const auto text_it = object.find("text");
    if (text_it == object.end()) fail_at(path, number, "missing \"text\"");
    if (!text_it->is_string()) fail_at(path, number, "\"text\" is not a string");
    std::vector<std::int32_t> ids = encode_at(path, number, tokenizer, text_it->get_ref<const std::string&>());
    check_ids(path, number, ids, options.vocab_size);
    if (options.labels) dataset.labels.push_back(read_label(path, number, object, options.num_labels));
    dataset.sequences.push_back(std::move(ids));
  });
  return dataset;
}

std::int32_t parse_id(const std::filesystem::path& path, std::size_t line, std::string_view token,
                      std::int32_t vocab_size) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
  if (ec == std::errc::invalid_argument || end != token.data() + token.size()) {
    fail_at(path, line, "not an integer token id: '" + std::string(token) + "'");
  }
  if (ec == std::errc::result_out_of_range) {
    fail_at(path, line, "token id " + std::string(token) + " out of range [0, " + std::to_string(vocab_size) + ")");
  }
  if (value < 0 || value >= vocab_size) fail_at(path, line, out_of_range(value, vocab_size));
  return static_cast<std::int32_t>(value);
}

std::vector<std::int32_t> parse_id_line(const std::filesystem::path& path, std::size_t line, std::string_view text,
                                        std::int32_t vocab_size) {
  constexpr std::string_view kSpace = " \t\r\f\v";
  std::vector<std::int32_t> ids;
  std::size_t pos = text.find_first_not_of(kSpace);
  while (pos != std::string_view::npos) {
    const std::size_t end = text.find_first_of(kSpace, pos);
    ids.push_back(parse_id(path, line, text.substr(pos, end - pos), vocab_size));
    pos = end == std::string_view::npos ? end : text.find_first_not_of(kSpace, end);
  }
  return ids;
}

Dataset parse_ids(const std::filesystem::path& path, std::string_view content, const LoadOptions& options) {
  Dataset dataset{path, {}, {}};
  for_each_line(content, [&](std::size_t number, std::string_view line) {
    std::vector<std::int32_t> ids = parse_id_line(path, number, line, options.vocab_size);
    if (!ids.empty()) dataset.sequences.push_back(std::move(ids));
  });
  return dataset;
}

// Little-endian unsigned integer of @p size bytes at @p at, independent of the host's byte order.
std::uint32_t read_le(std::string_view bytes, std::size_t at, std::size_t size) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < size; ++i) {
    value |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  }
  return value;
}

std::int32_t header_int(std::string_view bytes, std::size_t index) {
  return static_cast<std::int32_t>(read_le(bytes, index * 4, 4));
}

const BinKind& bin_kind(const std::filesystem::path& path, std::string_view bytes) {
  const std::int32_t magic = header_int(bytes, 0);
  const std::int32_t version = header_int(bytes, 1);
  const auto kind = std::find_if(kBinKinds.begin(), kBinKinds.end(), [&](const BinKind& k) { return k.magic == magic; });
  if (kind == kBinKinds.end()) {
    fail(path, "bad magic " + std::to_string(magic) + " in llm.c header (expected 20240520 or 20240801)");
  }
  if (version != kind->version) {
    fail(path, "unsupported version " + std::to_string(version) + " for magic " + std::to_string(magic) +
                   " (expected " + std::to_string(kind->version) + ")");
  }
  return *kind;
}

// The token count of a validated header; the file must hold exactly that many tokens.
std::size_t bin_token_count(const std::filesystem::path& path, std::string_view bytes, const BinKind& kind) {
  const std::int32_t count = header_int(bytes, 2);
  if (count < 0) fail(path, "negative token count " + std::to_string(count) + " in llm.c header");
  const std::size_t expected = kBinHeaderBytes + static_cast<std::size_t>(count) * kind.token_bytes;
  if (bytes.size() != expected) {
    fail(path, "header says " + std::to_string(count) + " tokens (" + std::to_string(expected) +
                   " bytes) but the file has " + std::to_string(bytes.size()) + " bytes");
  }
  return static_cast<std::size_t>(count);
}

Dataset parse_bin(const std::filesystem::path& path, std::string_view bytes, const LoadOptions& options) {
  if (bytes.size() < kBinHeaderBytes) {
    fail(path, "file of " + std::to_string(bytes.size()) + " bytes is shorter than the 1024-byte llm.c header");
  }
  const BinKind& kind = bin_kind(path, bytes);
  std::vector<std::int32_t> stream(bin_token_count(path, bytes, kind));
  for (std::size_t i = 0; i < stream.size(); ++i) {
    const std::size_t offset = kBinHeaderBytes + i * kind.token_bytes;
    const std::uint32_t id = read_le(bytes, offset, kind.token_bytes);
    if (id >= static_cast<std::uint32_t>(options.vocab_size)) {
      fail(path, "byte offset " + std::to_string(offset) + ": " + out_of_range(id, options.vocab_size));
    }
    stream[i] = static_cast<std::int32_t>(id);
  }
  Dataset dataset{path, {}, {}};
  if (!stream.empty()) dataset.sequences.push_back(std::move(stream));
  return dataset;
}

}  // namespace

Format format_of(const std::filesystem::path& path) {
  const std::string ext = path.extension().string();
  if (ext == ".txt") return Format::Text;
  if (ext == ".jsonl") return Format::Jsonl;
  if (ext == ".ids") return Format::Ids;
  if (ext == ".bin") return Format::Bin;
  throw Error(path.string() + ": unknown dataset extension '" + ext + "' (expected .txt, .jsonl, .ids or .bin)");
}

Dataset load_dataset(const std::filesystem::path& path, const LoadOptions& options) {
  const Format format = format_of(path);
  return parse_dataset(read_bytes(path), format, path, options);
}

Dataset parse_dataset(std::string_view content, Format format, const std::filesystem::path& path,
                      const LoadOptions& options) {
  if (options.vocab_size <= 0) {
    throw Error(path.string() + ": vocab_size must be positive, got " + std::to_string(options.vocab_size));
  }
  if (options.labels && format != Format::Jsonl) {
    throw Error(path.string() + ": labels need a .jsonl file with a \"label\" per line");
  }
  Dataset dataset;
  switch (format) {
    case Format::Text: dataset = parse_text(path, content, options); break;
    case Format::Jsonl: dataset = parse_jsonl(path, content, options); break;
    case Format::Ids: dataset = parse_ids(path, content, options); break;
    case Format::Bin: dataset = parse_bin(path, content, options); break;
  }
  if (dataset.sequences.empty()) fail(path, "empty dataset: no sequence found");
  return dataset;
}

}  // namespace tandem::data
