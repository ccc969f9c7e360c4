#pragma once
// Shared helpers for the model tests: the fixture folders written by
// tests/fixtures/make_reference.py, their reference batches, comparisons and scratch folders.

#include <filesystem>
#include <string>
#include <string_view>

#include "data/batch.hpp"
#include "io/safetensors.hpp"
#include "tandem/tensor.hpp"

namespace tandem::testing {

std::filesystem::path fixture_dir(std::string_view model);  // e.g. "gpt2-tiny"
// The batch stored in <model>/reference.safetensors (integers are stored there as F32).
data::Batch reference_batch(const io::SafetensorsReader& ref);
// An F32 tensor of whole numbers as I32.
Tensor to_i32(const Tensor& t);

// max |got - ref| over all elements, and max |ref|.
struct Diff {
  double max_abs = 0;
  double ref_scale = 0;
  [[nodiscard]] double relative() const { return ref_scale > 0 ? max_abs / ref_scale : max_abs; }
};
Diff compare(const Tensor& got, const Tensor& ref);

// A fresh empty folder under the system temp dir, removed on destruction.
class ScratchDir {
 public:
  explicit ScratchDir(std::string_view tag);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace tandem::testing
