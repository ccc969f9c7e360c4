#include "tandem/tensor.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "tandem/error.hpp"

namespace tandem {
inline namespace v1 {

namespace detail {
// Owns one aligned allocation; tensors and their views share it.
struct Storage {
  void* ptr = nullptr;
  std::size_t bytes = 0;
  Storage(std::size_t n, std::size_t alignment) : bytes(n) {
    // aligned_alloc wants the size to be a multiple of the alignment.
    std::size_t rounded = (std::max<std::size_t>(n, 1) + alignment - 1) / alignment * alignment;
    ptr = std::aligned_alloc(alignment, rounded);
    if (ptr == nullptr) throw Error("tensor: cannot allocate " + std::to_string(n) + " bytes", ErrorCategory::Internal);
  }
  ~Storage() { std::free(ptr); }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};
}  // namespace detail

std::size_t dtype_size(DType dtype) noexcept {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::I32: return 4;
    case DType::BF16: return 2;
  }
  return 0;
}

const char* dtype_name(DType dtype) noexcept {
  switch (dtype) {
    case DType::F32: return "f32";
    case DType::I32: return "i32";
    case DType::BF16: return "bf16";
  }
  return "?";
}

Shape::Shape(std::initializer_list<std::int64_t> dims) : Shape(std::span<const std::int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const std::int64_t> dims) {
  if (dims.size() > static_cast<std::size_t>(kMaxRank))
    throw Error("shape: rank " + std::to_string(dims.size()) + " exceeds the maximum of 4");
  rank_ = static_cast<int>(dims.size());
  for (int i = 0; i < rank_; ++i) {
    if (dims[static_cast<std::size_t>(i)] < 0) {
      std::string text;
      for (auto d : dims) text += (text.empty() ? "" : ", ") + std::to_string(d);
      throw Error("shape: negative dimension in (" + text + ")");
    }
    dims_[static_cast<std::size_t>(i)] = dims[static_cast<std::size_t>(i)];
  }
}

std::int64_t Shape::operator[](int i) const {
  int j = i < 0 ? i + rank_ : i;
  if (j < 0 || j >= rank_) throw Error("shape: dimension " + std::to_string(i) + " out of range for " + str());
  return dims_[static_cast<std::size_t>(j)];
}

std::int64_t Shape::numel() const noexcept {
  std::int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<std::size_t>(i)];
  return n;
}

std::int64_t Shape::rows() const noexcept {
  std::int64_t n = 1;
  for (int i = 0; i + 1 < rank_; ++i) n *= dims_[static_cast<std::size_t>(i)];
  return n;
}

std::string Shape::str() const {
  std::string s = "(";
  for (int i = 0; i < rank_; ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(dims_[static_cast<std::size_t>(i)]);
  }
  return s + ")";
}

bool operator==(const Shape& a, const Shape& b) noexcept {
  return a.rank_ == b.rank_ && std::equal(a.dims_.begin(), a.dims_.begin() + a.rank_, b.dims_.begin());
}

Tensor::Tensor(std::shared_ptr<detail::Storage> storage, const Shape& shape, DType dtype)
    : storage_(std::move(storage)), shape_(shape), dtype_(dtype) {
  std::int64_t s = 1;
  for (int i = shape.rank() - 1; i >= 0; --i) {
    strides_[static_cast<std::size_t>(i)] = s;
    s *= shape[i];
  }
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Alignment align) {
  auto bytes = static_cast<std::size_t>(shape.numel()) * dtype_size(dtype);
  return Tensor(std::make_shared<detail::Storage>(bytes, static_cast<std::size_t>(align)), shape, dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Alignment align) {
  Tensor t = empty(shape, dtype, align);
  std::memset(t.raw(), 0, t.nbytes());
  return t;
}

Tensor Tensor::from(std::span<const float> values, const Shape& shape) {
  if (static_cast<std::int64_t>(values.size()) != shape.numel())
    throw Error("tensor: " + std::to_string(values.size()) + " values do not fill shape " + shape.str());
  Tensor t = empty(shape, DType::F32);
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

Tensor Tensor::from(std::span<const std::int32_t> values, const Shape& shape) {
  if (static_cast<std::int64_t>(values.size()) != shape.numel())
    throw Error("tensor: " + std::to_string(values.size()) + " values do not fill shape " + shape.str());
  Tensor t = empty(shape, DType::I32);
  std::copy(values.begin(), values.end(), t.data<std::int32_t>());
  return t;
}

std::int64_t Tensor::stride(int i) const {
  int j = i < 0 ? i + rank() : i;
  if (j < 0 || j >= rank()) throw Error("tensor: dimension " + std::to_string(i) + " out of range for " + shape_.str());
  return strides_[static_cast<std::size_t>(j)];
}

bool Tensor::is_contiguous() const noexcept {
  std::int64_t s = 1;
  for (int i = rank() - 1; i >= 0; --i) {
    auto d = static_cast<std::size_t>(i);
    if (shape_.dims()[d] != 1 && strides_[d] != s) return false;
    s *= shape_.dims()[d];
  }
  return true;
}

void* Tensor::raw() const { return storage_->ptr; }

void Tensor::check_access(DType want) const {
  if (!defined()) throw Error("tensor: access to an undefined tensor");
  if (dtype_ != want)
    throw Error(std::string("tensor: element type is ") + dtype_name(dtype_) + ", accessed as " + dtype_name(want));
}

Tensor Tensor::reshape(const Shape& shape) const {
  if (!is_contiguous()) throw Error("tensor: reshape of a strided view " + shape_.str() + "; call contiguous() first");
  if (shape.numel() != numel()) throw Error("tensor: cannot reshape " + shape_.str() + " to " + shape.str());
  Tensor t(storage_, shape, dtype_);
  t.offset_ = offset_;
  return t;
}

Tensor Tensor::narrow(int dim, std::int64_t start, std::int64_t length) const {
  int j = dim < 0 ? dim + rank() : dim;
  if (j < 0 || j >= rank()) throw Error("tensor: narrow dimension " + std::to_string(dim) + " out of range for " + shape_.str());
  if (start < 0 || length < 0 || start + length > shape_[j])
    throw Error("tensor: narrow [" + std::to_string(start) + ", " + std::to_string(start + length) + ") outside dimension " +
                std::to_string(dim) + " of " + shape_.str());
  std::array<std::int64_t, Shape::kMaxRank> dims{};
  std::copy(shape_.dims().begin(), shape_.dims().end(), dims.begin());
  dims[static_cast<std::size_t>(j)] = length;
  Tensor t = *this;
  t.shape_ = Shape(std::span<const std::int64_t>(dims.data(), static_cast<std::size_t>(rank())));
  t.offset_ = offset_ + start * strides_[static_cast<std::size_t>(j)];
  return t;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_);
  t.copy_from(*this);
  return t;
}

void Tensor::fill(float value) {
  float* p = data<float>();
  if (!is_contiguous()) throw Error("tensor: fill of a strided view " + shape_.str());
  std::fill(p, p + numel(), value);
}

void Tensor::copy_from(const Tensor& src) {
  if (!(src.shape_ == shape_) || src.dtype_ != dtype_)
    throw Error("tensor: copy from " + src.shape_.str() + " " + dtype_name(src.dtype_) + " into " + shape_.str() + " " +
                dtype_name(dtype_));
  if (!defined() || !src.defined()) throw Error("tensor: copy with an undefined tensor");
  const std::size_t esize = dtype_size(dtype_);
  auto* dst = static_cast<char*>(raw()) + offset_ * static_cast<std::int64_t>(esize);
  const auto* from = static_cast<const char*>(src.raw()) + src.offset_ * static_cast<std::int64_t>(esize);
  if (is_contiguous() && src.is_contiguous()) {
    std::memmove(dst, from, nbytes());
    return;
  }
  // Walk a 4-D index space (missing leading dims are 1); copies are rare and small here.
  std::array<std::int64_t, 4> n{1, 1, 1, 1}, sd{0, 0, 0, 0}, ss{0, 0, 0, 0};
  int pad = 4 - rank();
  for (int i = 0; i < rank(); ++i) {
    auto k = static_cast<std::size_t>(i + pad), d = static_cast<std::size_t>(i);
    n[k] = shape_.dims()[d];
    sd[k] = strides_[d];
    ss[k] = src.strides_[d];
  }
  const auto es = static_cast<std::int64_t>(esize);
  for (std::int64_t a = 0; a < n[0]; ++a)
    for (std::int64_t b = 0; b < n[1]; ++b)
      for (std::int64_t c = 0; c < n[2]; ++c)
        for (std::int64_t d = 0; d < n[3]; ++d)
          std::memcpy(dst + (a * sd[0] + b * sd[1] + c * sd[2] + d * sd[3]) * es,
                      from + (a * ss[0] + b * ss[1] + c * ss[2] + d * ss[3]) * es, esize);
}

}  // namespace v1
}  // namespace tandem
