#include "text/vocab.hpp"

#include <algorithm>
#include <limits>

#include "tandem/error.hpp"

namespace tandem::text {

void Vocab::add(std::string token, std::int32_t id) {
  if (id < 0) throw Error("Vocab::add: negative id " + std::to_string(id));
  size_ = std::max(size_, id == std::numeric_limits<std::int32_t>::max() ? id : id + 1);
  tokens_.insert_or_assign(id, token);
  ids_.insert_or_assign(std::move(token), id);
}

std::optional<std::int32_t> Vocab::id(std::string_view token) const {
  const auto it = ids_.find(token);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

const std::string* Vocab::token(std::int32_t id) const {
  const auto it = tokens_.find(id);
  return it == tokens_.end() ? nullptr : &it->second;
}

}  // namespace tandem::text
