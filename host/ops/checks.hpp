#pragma once
// Argument checks shared by every op's validation. Each throws tandem::Error with a
// one-line message "<op>: <argument> <problem>" that names the shapes involved.

#include <string>
#include <string_view>

#include "tandem/error.hpp"
#include "tandem/tensor.hpp"

namespace tandem::check {

// The tensor is defined, of @p dtype, contiguous and has at least one element.
void input(std::string_view op, std::string_view arg, const Tensor& t, DType dtype = DType::F32);
// As input(), and its shape is exactly @p want.
void shaped(std::string_view op, std::string_view arg, const Tensor& t, const Shape& want, DType dtype = DType::F32);
// The tensor has rank @p rank (after input() passed).
void rank(std::string_view op, std::string_view arg, const Tensor& t, int rank);
// The tensor's rank lies in [lo, hi].
void rank_between(std::string_view op, std::string_view arg, const Tensor& t, int lo, int hi);
// Throws "<op>: <message>" when @p ok is false.
void that(bool ok, std::string_view op, const std::string& message);
// Every element of an f32 tensor is finite; otherwise "<op>: <arg> contains NaN or Inf".
void finite(std::string_view op, std::string_view arg, const Tensor& t);

}  // namespace tandem::check
