#include "dist/agreement.hpp"

#include "tandem/error.hpp"

namespace tandem::dist {
namespace {

std::string shown(const nlohmann::json& facts, const std::string& key) {
  if (!facts.contains(key)) return "missing";
  const nlohmann::json& v = facts.at(key);
  return v.is_string() ? v.get<std::string>() : v.dump();
}

}  // namespace

std::string first_disagreement(const std::vector<nlohmann::json>& facts) {
  if (facts.empty()) return {};
  const nlohmann::json& root = facts.front();
  for (std::size_t r = 1; r < facts.size(); ++r) {
    // Every key of either side, in rank 0's (sorted) order first.
    std::vector<std::string> keys;
    for (const auto& [key, value] : root.items()) keys.push_back(key);
    for (const auto& [key, value] : facts[r].items())
      if (!root.contains(key)) keys.push_back(key);
    for (const std::string& key : keys) {
      if (root.contains(key) && facts[r].contains(key) && root.at(key) == facts[r].at(key)) continue;
      return "ranks disagree at start: " + key + " is " + shown(root, key) + " on rank 0 but " + shown(facts[r], key) +
             " on rank " + std::to_string(r);
    }
  }
  return {};
}

void check_agreement(Communicator& comm, const nlohmann::json& facts) {
  if (!facts.is_object()) throw Error("check_agreement: the facts must be a JSON object", ErrorCategory::Internal);
  std::vector<nlohmann::json> all;
  for (const std::string& text : comm.allgather(facts.dump())) {
    try {
      all.push_back(nlohmann::json::parse(text));
    } catch (const nlohmann::json::exception& e) {
      throw Error(std::string("check_agreement: a rank sent facts that are not JSON: ") + e.what(), ErrorCategory::Internal);
    }
  }
  const std::string difference = first_disagreement(all);
  if (!difference.empty()) throw Error(difference);
}

}  // namespace tandem::dist
