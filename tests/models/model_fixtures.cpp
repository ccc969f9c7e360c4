#include "model_fixtures.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace tandem::testing {

std::filesystem::path fixture_dir(std::string_view model) {
  return std::filesystem::path(TANDEM_FIXTURES) / "models" / model;
}

Tensor to_i32(const Tensor& t) {
  const Tensor c = t.contiguous();
  std::vector<std::int32_t> v(static_cast<std::size_t>(c.numel()));
  const float* p = c.data<float>();
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::int32_t>(std::lround(p[i]));
  return Tensor::from(std::span<const std::int32_t>(v), c.shape());
}

data::Batch reference_batch(const io::SafetensorsReader& ref) {
  data::Batch b;
  b.ids = to_i32(ref.load("ids"));
  if (ref.contains("targets")) b.targets = to_i32(ref.load("targets"));
  if (ref.contains("labels")) b.labels = to_i32(ref.load("labels"));
  if (ref.contains("mask")) b.mask = ref.load("mask");
  if (ref.contains("token_types")) b.token_types = to_i32(ref.load("token_types"));
  return b;
}

Diff compare(const Tensor& got, const Tensor& ref) {
  if (!(got.shape() == ref.shape()))
    throw std::invalid_argument("compare: shapes differ: " + got.shape().str() + " vs " + ref.shape().str());
  const Tensor g = got.contiguous(), r = ref.contiguous();
  const float* pg = g.data<float>();
  const float* pr = r.data<float>();
  Diff d;
  for (std::int64_t i = 0; i < g.numel(); ++i) {
    const double diff = std::abs(double(pg[i]) - double(pr[i]));
    d.max_abs = std::isnan(diff) ? INFINITY : std::max(d.max_abs, diff);
    d.ref_scale = std::max(d.ref_scale, std::abs(double(pr[i])));
  }
  return d;
}

ScratchDir::ScratchDir(std::string_view tag) {
  static int counter = 0;
  path_ = std::filesystem::temp_directory_path() /
          ("tandem-test-models-" + std::string(tag) + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace tandem::testing
