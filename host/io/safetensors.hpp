#pragma once
// safetensors (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]},
// "__metadata__": {str: str}}, then the data. The reader maps the file and validates the
// whole header before any tensor is touched; the writer never leaves a partial file under
// the real name.

#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tandem/tensor.hpp"

namespace tandem::io {

// A validated, memory-mapped safetensors file. Every problem is a tandem::Error (category
// Io) whose one-line message starts with the file's path.
class SafetensorsReader {
 public:
  explicit SafetensorsReader(const std::filesystem::path& path);
  // The same from a copy of @p bytes (a whole file's content); @p name stands for the file in
  // messages and path(). For readers that already hold the bytes, and for fuzzing.
  SafetensorsReader(std::span<const std::byte> bytes, const std::filesystem::path& name);
  ~SafetensorsReader();
  SafetensorsReader(SafetensorsReader&&) noexcept;
  SafetensorsReader& operator=(SafetensorsReader&&) noexcept;

  [[nodiscard]] const std::filesystem::path& path() const;
  // Tensor names in the order of their data offsets.
  [[nodiscard]] const std::vector<std::string>& names() const;
  [[nodiscard]] bool contains(std::string_view name) const;
  // The stored shape and dtype string ("F32", "F16", "BF16", ...) of a tensor. shape()
  // throws for rank > 4, which opening the file accepts.
  [[nodiscard]] Shape shape(std::string_view name) const;
  [[nodiscard]] std::string dtype(std::string_view name) const;
  // The tensor as a new contiguous f32 Tensor (F16, BF16 and F64 are converted; integer
  // dtypes are an error here, see load_ids). Rank > 4 is reported here, not when opening.
  [[nodiscard]] Tensor load(std::string_view name) const;
  // An I32 or I64 tensor (token ids, labels) as a new contiguous i32 Tensor; an I64 value
  // outside the i32 range is an error.
  [[nodiscard]] Tensor load_ids(std::string_view name) const;
  [[nodiscard]] const std::map<std::string, std::string>& metadata() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes @p tensors (f32, i32 or bf16, contiguous or not; names unique, tensors defined,
// checked before anything is written) in the given order with @p metadata,
// through a temporary file in the same directory that is flushed, fsync'ed and renamed
// over @p path, so a crash leaves either the old file or the new one.
void write_safetensors(const std::filesystem::path& path, std::span<const std::pair<std::string, Tensor>> tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace tandem::io
