#pragma once
// Token datasets read from disk. The format follows the file's extension:
//   .txt    plain text, the whole file as one token stream; documents (separated by blank
//           lines) are joined with the tokenizer's eos id when it has one
//   .jsonl  one JSON object per line: "text" (string, required) and, for classification,
//           "label" (integer, required); one sequence per line
//   .ids    pre-tokenised: whitespace-separated token ids, one sequence per line
//   .bin    llm.c token shard: a header of 256 little-endian int32 (magic, version, token
//           count, rest 0) followed by the tokens as one stream. Magic 20240520 / version 1
//           stores uint16 tokens (GPT-2); magic 20240801 / version 7 stores uint32 (Llama 3).
//           Layout as written by llm.c's dev/data/data_common.py::write_datafile and checked
//           by llmc/dataloader.h (file size = 1024 + token count × token size).
// Every problem is a tandem::Error (category Io for file content) whose one-line message
// starts with the file's path, and with the line (or byte offset in .bin) where it applies.

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

namespace tandem::text {
class Tokenizer;
}

namespace tandem::data {

enum class Format { Text, Jsonl, Ids, Bin };

// The format named by @p path's extension; any other extension is an error naming the file.
Format format_of(const std::filesystem::path& path);

struct LoadOptions {
  // Ids must lie in [0, vocab_size): the size of the model's embedding table.
  std::int32_t vocab_size = 0;
  // Needed for .txt and .jsonl; not used for .ids and .bin.
  const text::Tokenizer* tokenizer = nullptr;
  // Read "label" from every line (classification); only .jsonl carries labels.
  bool labels = false;
  // When labels and > 0, labels must lie in [0, num_labels).
  std::int32_t num_labels = 0;
};

struct Dataset {
  std::filesystem::path source;
  std::vector<std::vector<std::int32_t>> sequences;  // token ids, each checked against the vocabulary
  std::vector<std::int32_t> labels;                  // one per sequence when loaded with labels, else empty
};

// Reads and validates the whole file. Blank lines of .ids and .jsonl are skipped; a .jsonl
// line with empty "text" is kept (a classification example may be empty). A file that gives
// no sequence is an error naming the file.
Dataset load_dataset(const std::filesystem::path& path, const LoadOptions& options);

// The same for a file's @p content already in memory, read as @p format; @p path names it in
// messages and becomes Dataset::source.
Dataset parse_dataset(std::string_view content, Format format, const std::filesystem::path& path,
                      const LoadOptions& options);

}  // namespace tandem::data
