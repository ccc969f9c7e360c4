#pragma once
// Turning the API's TrainOptions into the trainer's TrainConfig, and settings given as text
// (TrainOptions::extra, tandem_options_set) into config fields.

#include <filesystem>
#include <string_view>

#include "tandem/trainer.hpp"
#include "train/trainer.hpp"

namespace tandem::api {

// Sets the config field named @p key (train::config_fields()) from its text form: integers and
// numbers must parse whole, booleans are true/false/1/0, lists are comma-separated. An unknown
// key or a value that does not parse is an InvalidArgument error naming the key.
void apply_setting(train::TrainConfig& config, std::string_view key, std::string_view value);

// The trainer's config for fine-tuning the model in @p model_dir with @p options: the named
// fields first, then every extra setting on top.
[[nodiscard]] train::TrainConfig to_train_config(const std::filesystem::path& model_dir, const TrainOptions& options);

}  // namespace tandem::api
