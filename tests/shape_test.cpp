#include <gtest/gtest.h>

#include <algorithm>

#include "core/ops/shape.h"
#include "core/threads.h"
#include "tests/support/gradcheck.h"

namespace lpt {
namespace {

using testing::gradcheck;
using testing::random_tensor;

// Logical (NCHW) order is what PyTorch's flatten gives, whatever the memory layout.
TEST(Flatten, ChannelsLastIsFlattenedInLogicalOrder) {
  const Tensor x = random_tensor({2, 3, 4, 5}, 1, -1, 1, MemoryFormat::channels_last);
  const Tensor y = ops::flatten(Variable(x)).data();
  ASSERT_EQ(y.shape(), (Shape{2, 60}));
  EXPECT_TRUE(y.is_contiguous());
  const float* px = x.data<float>();
  const float* py = y.data<float>();
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t h = 0; h < 4; ++h)
        for (int64_t w = 0; w < 5; ++w)
          EXPECT_EQ(py[n * 60 + (c * 4 + h) * 5 + w], px[((n * 4 + h) * 5 + w) * 3 + c]);
}

TEST(Flatten, ContiguousInputIsAViewOfTheSameStorage) {
  const Tensor x = random_tensor({4, 2, 3}, 2);
  const Tensor y = ops::flatten(Variable(x)).data();
  EXPECT_EQ(y.shape(), (Shape{4, 6}));
  EXPECT_TRUE(y.shares_storage_with(x));
  EXPECT_EQ(y.to_vector(), x.to_vector());
}

TEST(Flatten, GradientComesBackInTheInputsShapeAndLayout) {
  for (const Shape& s : {Shape{2, 3, 4, 5}, Shape{3, 8, 1, 1}}) {
    Variable x(random_tensor(s, 4, -1, 1, MemoryFormat::channels_last), true, "x");
    Variable y = ops::flatten(x);
    const Tensor dout = random_tensor(y.shape(), 5);
    y.backward(dout);
    EXPECT_TRUE(x.grad().is_channels_last()) << shape_str(s);
    EXPECT_EQ(x.grad().to_vector(), dout.to_vector()) << shape_str(s);  // logical orders agree
  }
}

TEST(Flatten, GradientMatchesFiniteDifferences) {
  const auto f = [](const std::vector<Variable>& v) { return ops::flatten(v[0]); };
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 3, 2, 3}, 6, -1, 1, MemoryFormat::channels_last)}));
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 4, 1, 1}, 7, -1, 1, MemoryFormat::channels_last)}));
  EXPECT_TRUE(gradcheck(f, {random_tensor({3, 2, 5}, 8)}));
}

TEST(Flatten, OneDimensionalInputIsAnError) {
  try {
    ops::flatten(Variable(Tensor::zeros({5})));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "flatten: input f32[5] needs at least 2 dimensions [N, ...]");
  }
}

// The permute kernels against naive index arithmetic, on a shape large enough to split across threads.
TEST(Flatten, PermuteKernelsRoundTrip) {
  const int64_t N = 4, C = 64, HW = 49;
  const Tensor x = random_tensor({N * HW * C}, 9);
  Tensor nchw = Tensor::empty({N * C * HW}), back = Tensor::empty({N * HW * C});
  ops::channels_last_to_nchw(nchw.data<float>(), x.data<float>(), N, C, HW);
  ops::nchw_to_channels_last(back.data<float>(), nchw.data<float>(), N, C, HW);
  const float* px = x.data<float>();
  const float* pn = nchw.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) ASSERT_EQ(pn[(n * C + c) * HW + i], px[(n * HW + i) * C + c]);
  EXPECT_EQ(back.to_vector(), x.to_vector());
}

// Global pooling's [N, C, 1, 1] output is already in NCHW order in memory: flatten is a free view.
TEST(Flatten, ChannelsLastWithUnitSpatialSizeIsAView) {
  const Tensor x = random_tensor({4, 16, 1, 1}, 10, -1, 1, MemoryFormat::channels_last);
  const Tensor y = ops::flatten(Variable(x)).data();
  EXPECT_TRUE(y.shares_storage_with(x));
  EXPECT_EQ(y.shape(), (Shape{4, 16}));
  EXPECT_EQ(y.to_vector(), x.to_vector());
}

}  // namespace
}  // namespace lpt
