#include "text/vocab.hpp"

#include "tandem/error.hpp"

namespace tandem::text {

void Vocab::add(std::string token, std::int32_t id) {
  if (id < 0) throw Error("Vocab::add: negative id " + std::to_string(id));
  const auto index = static_cast<std::size_t>(id);
  if (index >= tokens_.size()) tokens_.resize(index + 1);
  tokens_[index] = token;
  ids_.insert_or_assign(std::move(token), id);
}

std::optional<std::int32_t> Vocab::id(std::string_view token) const {
  const auto it = ids_.find(token);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

const std::string* Vocab::token(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size()) return nullptr;
  const auto& entry = tokens_[static_cast<std::size_t>(id)];
  return entry ? &*entry : nullptr;
}

}  // namespace tandem::text
