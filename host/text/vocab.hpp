#pragma once
// Token text <-> id tables shared by the tokenizers.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tandem::text {

// Ids need not be dense (a vocab.json may skip some), so size() is the largest id + 1. Both
// directions are hash maps, so memory follows the number of tokens, not the largest id (a
// vocab.json giving one token the id 2^31 - 1 must not allocate gigabytes).
class Vocab {
 public:
  // Maps @p token to @p id and @p id to @p token. A token added again keeps its latest id, as
  // Hugging Face's readers do; callers that must reject repeats check id()/token() first.
  void add(std::string token, std::int32_t id);
  [[nodiscard]] std::optional<std::int32_t> id(std::string_view token) const;
  // The text of @p id, or nullptr when no token has that id.
  [[nodiscard]] const std::string* token(std::int32_t id) const;
  [[nodiscard]] std::int32_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return ids_.empty(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::int32_t, Hash, std::equal_to<>> ids_;
  std::unordered_map<std::int32_t, std::string> tokens_;
  std::int32_t size_ = 0;
};

}  // namespace tandem::text
