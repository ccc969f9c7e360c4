// The tensor core: shapes, allocation and alignment, views, copies, typed access.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "tandem/error.hpp"
#include "tandem/tensor.hpp"

namespace tandem {
namespace {

TEST(Shape, BasicsAndPrinting) {
  Shape s{3, 5, 7};
  EXPECT_EQ(s.rank(), 3);
  EXPECT_EQ(s.numel(), 105);
  EXPECT_EQ(s.rows(), 15);
  EXPECT_EQ(s[-1], 7);
  EXPECT_EQ(s.str(), "(3, 5, 7)");
  EXPECT_EQ(Shape{}.numel(), 1);
  EXPECT_EQ(Shape{}.str(), "()");
  EXPECT_TRUE((Shape{2, 3} == Shape{2, 3}));
  EXPECT_FALSE((Shape{2, 3} == Shape{3, 2}));
}

TEST(Shape, RejectsBadDimensions) {
  EXPECT_THROW((Shape{1, 2, 3, 4, 5}), Error);
  try {
    Shape s{2, -1};
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "shape: negative dimension in (2, -1)");
  }
  EXPECT_THROW((void)Shape({2, 3})[2], Error);
}

TEST(Tensor, AllocationIsAligned) {
  for (std::int64_t n : {1, 3, 1000, 4097}) {
    Tensor t = Tensor::empty({n});
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data<float>()) % 64, 0u) << n;
    Tensor p = Tensor::empty({n}, DType::F32, Alignment::Page);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p.data<float>()) % 4096, 0u) << n;
  }
}

TEST(Tensor, ZerosFromAndFill) {
  Tensor z = Tensor::zeros({2, 3});
  for (int i = 0; i < 6; ++i) EXPECT_EQ(z.data<float>()[i], 0.0f);
  std::vector<float> v{1, 2, 3, 4, 5, 6};
  Tensor t = Tensor::from(v, {2, 3});
  EXPECT_EQ(t.data<float>()[5], 6.0f);
  t.fill(2.5f);
  EXPECT_EQ(t.data<float>()[0], 2.5f);
  EXPECT_THROW(Tensor::from(v, {4, 2}), Error);
}

TEST(Tensor, TypedAccessChecksDtype) {
  Tensor ids = Tensor::zeros({4}, DType::I32);
  EXPECT_NO_THROW((void)ids.data<std::int32_t>());
  try {
    (void)ids.data<float>();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "tensor: element type is i32, accessed as f32");
  }
  Tensor undefined;
  EXPECT_FALSE(undefined.defined());
  EXPECT_THROW((void)undefined.data<float>(), Error);
}

TEST(Tensor, CopiesShareStorageCloneDoesNot) {
  Tensor a = Tensor::zeros({4});
  Tensor shared = a;
  Tensor deep = a.clone();
  a.data<float>()[0] = 7.0f;
  EXPECT_EQ(shared.data<float>()[0], 7.0f);
  EXPECT_EQ(deep.data<float>()[0], 0.0f);
}

TEST(Tensor, ReshapeIsAView) {
  std::vector<float> v(24);
  for (int i = 0; i < 24; ++i) v[i] = float(i);
  Tensor t = Tensor::from(v, {2, 3, 4});
  Tensor r = t.reshape({6, 4});
  EXPECT_EQ(r.data<float>(), t.data<float>());
  EXPECT_EQ(r.stride(0), 4);
  EXPECT_THROW((void)t.reshape({5, 5}), Error);
}

TEST(Tensor, NarrowMakesStridedViews) {
  std::vector<float> v(12);
  for (int i = 0; i < 12; ++i) v[i] = float(i);
  Tensor t = Tensor::from(v, {3, 4});  // rows [0..3], [4..7], [8..11]
  Tensor rows = t.narrow(0, 1, 2);     // contiguous: rows 1 and 2
  EXPECT_TRUE(rows.is_contiguous());
  EXPECT_EQ(rows.data<float>()[0], 4.0f);
  Tensor cols = t.narrow(1, 1, 2);  // strided: columns 1 and 2
  EXPECT_FALSE(cols.is_contiguous());
  EXPECT_EQ(cols.shape(), (Shape{3, 2}));
  EXPECT_EQ(cols.stride(0), 4);
  Tensor packed = cols.contiguous();
  ASSERT_TRUE(packed.is_contiguous());
  const float want[] = {1, 2, 5, 6, 9, 10};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(packed.data<float>()[i], want[i]) << i;
  EXPECT_THROW((void)cols.reshape({6}), Error);
  EXPECT_THROW((void)t.narrow(1, 3, 2), Error);
  EXPECT_THROW((void)t.narrow(2, 0, 1), Error);
}

TEST(Tensor, CopyFromChecksShapeAndHandlesViews) {
  Tensor dst = Tensor::zeros({3, 2});
  std::vector<float> v(12);
  for (int i = 0; i < 12; ++i) v[i] = float(i);
  Tensor src = Tensor::from(v, {3, 4}).narrow(1, 2, 2);
  dst.copy_from(src);
  EXPECT_EQ(dst.data<float>()[0], 2.0f);
  EXPECT_EQ(dst.data<float>()[5], 11.0f);
  Tensor wrong = Tensor::zeros({2, 3});
  try {
    dst.copy_from(wrong);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "tensor: copy from (2, 3) f32 into (3, 2) f32");
  }
}

TEST(Tensor, EmptyShapesAreAllowedForStorage) {
  Tensor t = Tensor::zeros({0, 5});
  EXPECT_EQ(t.numel(), 0);
  EXPECT_EQ(t.nbytes(), 0u);
}

}  // namespace
}  // namespace tandem
