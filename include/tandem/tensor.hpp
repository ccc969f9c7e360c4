#pragma once
/// @file tensor.hpp
/// Row-major tensors of up to four dimensions, shared by value like a handle.

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <type_traits>

#include "tandem/export.hpp"

namespace tandem {
inline namespace v1 {

/// Element type of a tensor. BF16 is reserved for mixed-precision storage and not yet
/// accepted by any op.
enum class DType : std::uint8_t { F32, I32, BF16 };

/// Size in bytes of one element of @p dtype.
TANDEM_API std::size_t dtype_size(DType dtype) noexcept;
/// "f32", "i32" or "bf16".
TANDEM_API const char* dtype_name(DType dtype) noexcept;

/// A shape of rank 0..4. Dimensions are non-negative.
class TANDEM_API Shape {
 public:
  /// The largest rank a shape may have.
  static constexpr int kMaxRank = 4;

  /// Rank-0 shape (a scalar, one element).
  Shape() = default;
  /// Shape from a list of dimensions; throws tandem::Error for rank > 4 or negative dims.
  Shape(std::initializer_list<std::int64_t> dims);
  /// Shape from a span of dimensions; same checks.
  explicit Shape(std::span<const std::int64_t> dims);

  /// Number of dimensions.
  [[nodiscard]] int rank() const noexcept { return rank_; }
  /// Dimension @p i; negative @p i counts from the end. Throws when out of range.
  [[nodiscard]] std::int64_t operator[](int i) const;
  /// Product of the dimensions (1 for rank 0).
  [[nodiscard]] std::int64_t numel() const noexcept;
  /// Product of all dimensions but the last (the number of "rows").
  [[nodiscard]] std::int64_t rows() const noexcept;
  /// The dimensions as a span.
  [[nodiscard]] std::span<const std::int64_t> dims() const noexcept { return {dims_.data(), static_cast<std::size_t>(rank_)}; }
  /// "(2, 3, 4)".
  [[nodiscard]] std::string str() const;

  /// True when both shapes have the same rank and dimensions.
  friend TANDEM_API bool operator==(const Shape& a, const Shape& b) noexcept;

 private:
  std::array<std::int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

/// Where a tensor's memory must be aligned: 64 bytes for CPU vector code, 4 KiB when a
/// device will map it (XRT and PoCL want page-aligned host buffers).
enum class Alignment : std::size_t { Cache = 64, Page = 4096 };

namespace detail {
/// The shared, aligned allocation behind tensors (private to the library).
struct Storage;
}  // namespace detail

/// A tensor: a shape, strides (in elements) and a view into shared storage.
/// Copying a Tensor shares its data, as a handle does; clone() copies the data.
class TANDEM_API Tensor {
 public:
  /// An undefined tensor (no storage); defined() is false. Used for optional arguments.
  Tensor() = default;

  /// Uninitialised contiguous tensor.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Alignment align = Alignment::Cache);
  /// Zero-filled contiguous tensor.
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Alignment align = Alignment::Cache);
  /// Contiguous f32 tensor holding a copy of @p values; throws if the count differs from the shape.
  static Tensor from(std::span<const float> values, const Shape& shape);
  /// Contiguous i32 tensor holding a copy of @p values; throws if the count differs from the shape.
  static Tensor from(std::span<const std::int32_t> values, const Shape& shape);

  /// True when the tensor refers to storage.
  [[nodiscard]] bool defined() const noexcept { return storage_ != nullptr; }
  /// Identity of the buffer this tensor views: equal for views of one allocation.
  [[nodiscard]] const void* storage_id() const noexcept { return storage_.get(); }
  /// Offset of the first element from the start of the buffer, in bytes.
  [[nodiscard]] std::size_t byte_offset() const noexcept {
    return static_cast<std::size_t>(offset_) * dtype_size(dtype_);
  }
  /// The shape of the viewed elements.
  [[nodiscard]] const Shape& shape() const noexcept { return shape_; }
  /// The element type.
  [[nodiscard]] DType dtype() const noexcept { return dtype_; }
  /// Number of dimensions.
  [[nodiscard]] int rank() const noexcept { return shape_.rank(); }
  /// Number of viewed elements.
  [[nodiscard]] std::int64_t numel() const noexcept { return shape_.numel(); }
  /// Dimension @p i; negative counts from the end.
  [[nodiscard]] std::int64_t dim(int i) const { return shape_[i]; }
  /// Stride of dimension @p i in elements; negative counts from the end.
  [[nodiscard]] std::int64_t stride(int i) const;
  /// True when the elements are laid out densely in row-major order.
  [[nodiscard]] bool is_contiguous() const noexcept;
  /// Size of the viewed elements in bytes (numel × element size).
  [[nodiscard]] std::size_t nbytes() const noexcept { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }

  /// Typed pointer to the first element. Throws if T does not match dtype() (bf16 is
  /// read as std::uint16_t) or the tensor is undefined.
  template <class T> [[nodiscard]] T* data();
  /// Read-only typed pointer to the first element; same checks as the mutable overload.
  template <class T> [[nodiscard]] const T* data() const;

  /// A view with a new shape over the same elements; needs a contiguous tensor and the
  /// same element count.
  [[nodiscard]] Tensor reshape(const Shape& shape) const;
  /// A strided view of @p length entries of dimension @p dim starting at @p start.
  [[nodiscard]] Tensor narrow(int dim, std::int64_t start, std::int64_t length) const;
  /// A contiguous copy when strided, otherwise this tensor.
  [[nodiscard]] Tensor contiguous() const;
  /// A contiguous deep copy.
  [[nodiscard]] Tensor clone() const;
  /// Sets every element (f32 tensors) to @p value.
  void fill(float value);
  /// Copies the elements of @p src (same shape and dtype) into this tensor.
  void copy_from(const Tensor& src);

 private:
  Tensor(std::shared_ptr<detail::Storage> storage, const Shape& shape, DType dtype);
  [[nodiscard]] void* raw() const;
  void check_access(DType want) const;

  std::shared_ptr<detail::Storage> storage_;
  Shape shape_;
  std::array<std::int64_t, Shape::kMaxRank> strides_{};
  std::int64_t offset_ = 0;  // in elements
  DType dtype_ = DType::F32;
};

template <class T> T* Tensor::data() {
  if constexpr (std::is_same_v<T, float>) check_access(DType::F32);
  else if constexpr (std::is_same_v<T, std::int32_t>) check_access(DType::I32);
  else {
    static_assert(std::is_same_v<T, std::uint16_t>, "Tensor::data<T>: T must be float, int32_t or uint16_t");
    check_access(DType::BF16);
  }
  return static_cast<T*>(raw()) + offset_;
}

template <class T> const T* Tensor::data() const { return const_cast<Tensor*>(this)->data<T>(); }

}  // namespace v1
}  // namespace tandem
