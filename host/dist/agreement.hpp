#pragma once
// The start-of-run check that every rank trains the same thing: each rank describes its run as
// a flat JSON object of named facts (settings that must match, the model's shape, every
// parameter's name, shape and trainability, the size of the training set), the ranks gather
// each other's, and a difference is an error naming the ranks and the fact.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dist/communicator.hpp"

namespace tandem::dist {

// The first difference between rank 0's facts and another rank's, as a one-line message
// ("ranks disagree at start: --lora-rank is 4 on rank 0 but 8 on rank 1"); empty when all agree.
// @p facts: one flat JSON object per rank, by rank.
[[nodiscard]] std::string first_disagreement(const std::vector<nlohmann::json>& facts);

// Gathers every rank's @p facts and throws the first disagreement (on every rank alike).
void check_agreement(Communicator& comm, const nlohmann::json& facts);

}  // namespace tandem::dist
