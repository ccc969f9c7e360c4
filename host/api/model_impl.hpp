#pragma once
// What a tandem::Model handle points to.

#include <filesystem>
#include <memory>

#include "models/model.hpp"
#include "tandem/model.hpp"

namespace tandem {
inline namespace v1 {

struct Model::Impl {
  // Owned by the handle, or a trainer's model that keeps its trainer alive (aliasing pointer).
  std::shared_ptr<models::Model> model;
  std::filesystem::path dir;  // where the weights and tokenizer were loaded from
  bool trained = false;       // the model of a Trainer
};

}  // namespace v1
}  // namespace tandem
