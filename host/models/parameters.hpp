#pragma once
// The parameter registry shared by the models: parameters in registration order under their
// Hugging Face names, and loading them from a checkpoint whose names may differ by a prefix
// ("transformer.", "bert.") or by old spellings (LayerNorm gamma/beta).

#include <string>
#include <string_view>
#include <vector>

#include "models/model.hpp"

namespace tandem::io {
class SafetensorsReader;
}

namespace tandem::models {

// The tensors a layer keeps from a registered Parameter. They share storage with it, so the
// registry must only ever be updated in place (copy_from), never by re-assigning its tensors.
struct ParamRef {
  Tensor value;
  Tensor grad;
};

class ParameterSet {
 public:
  // Registers a zero-initialised parameter with a zero gradient.
  ParamRef add(std::string name, const Shape& shape, bool decay);
  [[nodiscard]] std::span<Parameter> all() noexcept { return params_; }
  [[nodiscard]] std::span<const Parameter> all() const noexcept { return params_; }
  // The parameter named @p name, or nullptr.
  [[nodiscard]] Parameter* find(std::string_view name) noexcept;

  // Fills every parameter from @p file. A parameter named "<base_prefix>rest" is looked up as
  // itself and as "rest" (and the other way round when the prefix is absent from the name);
  // names ending in LayerNorm.weight / .bias also match LayerNorm.gamma / .beta. Tensors in the
  // file that no parameter claims are ignored (tied copies, attention-mask buffers, other heads).
  // A missing or mis-shaped tensor is an Io error naming the file, the tensor and both shapes.
  void load(const io::SafetensorsReader& file, std::string_view base_prefix);

 private:
  std::vector<Parameter> params_;
};

}  // namespace tandem::models
