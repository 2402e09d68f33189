#include "core/ops/pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "tests/support/gradcheck.h"

namespace lpt {
namespace {

using ops::Pool2dParams;
using testing::gradcheck;
using testing::max_abs_diff;
using testing::random_tensor;

Pool2dParams params(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, bool include_pad = true) {
  Pool2dParams p;
  p.kernel_h = kh, p.kernel_w = kw, p.stride_h = sh, p.stride_w = sw, p.pad_h = ph, p.pad_w = pw;
  p.count_include_pad = include_pad;
  return p;
}

enum class Reduce { max, avg };

// PyTorch's pooling (ceil_mode = false) as plain loops over the logical NCHW values.
Tensor naive_pool(const Tensor& x, const Pool2dParams& p, Reduce r) {
  const Shape& s = x.shape();
  const int64_t N = s[0], C = s[1], H = s[2], W = s[3];
  const int64_t Ho = (H + 2 * p.pad_h - p.kernel_h) / p.stride_h + 1;
  const int64_t Wo = (W + 2 * p.pad_w - p.kernel_w) / p.stride_w + 1;
  const std::vector<float> v = x.to_vector();
  std::vector<float> y;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          double best = -std::numeric_limits<double>::infinity(), sum = 0;
          int64_t inside = 0;
          for (int64_t kh = 0; kh < p.kernel_h; ++kh)
            for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
              const int64_t h = oh * p.stride_h - p.pad_h + kh, w = ow * p.stride_w - p.pad_w + kw;
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              const double e = v[size_t(((n * C + c) * H + h) * W + w)];
              best = std::max(best, e);
              sum += e;
              ++inside;
            }
          const double divisor = p.count_include_pad ? double(p.kernel_h * p.kernel_w) : double(inside);
          y.push_back(float(r == Reduce::max ? best : sum / divisor));
        }
  return Tensor::from_vector({N, C, Ho, Wo}, y);
}

// Distinct values at least 0.05 apart in a seeded order, so that no finite-difference step of
// 0.01 changes which element of a window is the maximum.
Tensor distinct_values(const Shape& s, uint64_t seed) {
  const Tensor keys = random_tensor(s, seed);
  const std::vector<float> k = keys.to_vector();
  std::vector<size_t> order(k.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return k[a] < k[b]; });
  std::vector<float> v(k.size());
  for (size_t rank = 0; rank < order.size(); ++rank) v[order[rank]] = -2.0f + 0.05f * float(rank);
  return Tensor::from_vector(s, v).to(MemoryFormat::channels_last);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

struct PoolCase {
  Shape shape;
  Pool2dParams p;
};

// Strides that divide and that do not, padding, rectangular kernels, overlapping windows and
// windows with gaps between them (stride > kernel).
const PoolCase kCases[] = {
    {{2, 16, 6, 6}, params(2, 2, 2, 2, 0, 0)}, {{2, 5, 7, 7}, params(3, 3, 2, 2, 1, 1)},
    {{1, 20, 5, 6}, params(2, 2, 2, 2, 0, 0)}, {{2, 3, 6, 5}, params(3, 2, 1, 2, 1, 1)},
    {{1, 17, 8, 7}, params(2, 3, 3, 3, 1, 0)}, {{2, 32, 4, 4}, params(4, 4, 1, 1, 2, 2)},
};

// The same geometries on fewer elements for the finite differences (two forwards per element).
const PoolCase kGradCases[] = {
    {{1, 16, 4, 4}, params(2, 2, 2, 2, 0, 0)}, {{1, 5, 7, 7}, params(3, 3, 2, 2, 1, 1)},
    {{1, 20, 3, 2}, params(2, 2, 2, 2, 0, 0)}, {{1, 3, 6, 5}, params(3, 2, 1, 2, 1, 1)},
    {{1, 17, 5, 4}, params(2, 3, 3, 3, 1, 0)}, {{1, 16, 3, 3}, params(4, 4, 1, 1, 2, 2)},
};

TEST(MaxPool2d, ForwardMatchesNaiveLoop) {
  for (const PoolCase& c : kCases) {
    const Tensor x = random_tensor(c.shape, 1, -1.0f, 1.0f, MemoryFormat::channels_last);
    const Tensor y = ops::max_pool2d(Variable(x), c.p).data();
    EXPECT_TRUE(y.is_channels_last());
    EXPECT_EQ(max_abs_diff(y, naive_pool(x, c.p, Reduce::max)), 0.0) << shape_str(c.shape);
  }
}

TEST(MaxPool2d, PaddingNeverWins) {
  const Tensor x = random_tensor({1, 16, 4, 4}, 2, -3.0f, -1.0f, MemoryFormat::channels_last);
  const Tensor y = ops::max_pool2d(Variable(x), params(3, 3, 2, 2, 1, 1)).data();
  for (float v : y.to_vector()) EXPECT_LT(v, -1.0f + 1e-6f);
  EXPECT_EQ(max_abs_diff(y, naive_pool(x, params(3, 3, 2, 2, 1, 1), Reduce::max)), 0.0);
}

TEST(MaxPool2d, TiesSendTheGradientToTheFirstMaximum) {
  // PyTorch's rule: the first maximum of the window in row-major order takes the gradient.
  Variable x(Tensor::full({1, 16, 4, 4}, 1.0f, MemoryFormat::channels_last), true);
  Variable y = ops::max_pool2d(x, params(2, 2, 2, 2, 0, 0));
  y.backward(Tensor::full(y.shape(), 1.0f, MemoryFormat::channels_last));
  const std::vector<float> g = x.grad().to_vector();
  for (size_t i = 0; i < g.size(); ++i) {
    const size_t h = (i / 4) % 4, w = i % 4;
    EXPECT_EQ(g[i], h % 2 == 0 && w % 2 == 0 ? 1.0f : 0.0f) << "element " << i;
  }
}

TEST(MaxPool2d, GradientMatchesFiniteDifferences) {
  for (const PoolCase& c : kGradCases)
    EXPECT_TRUE(gradcheck([&](const std::vector<Variable>& v) { return ops::max_pool2d(v[0], c.p); },
                          {distinct_values(c.shape, 3)}))
        << shape_str(c.shape);
}

TEST(AvgPool2d, ForwardMatchesNaiveLoopBothPaddingCounts) {
  for (bool include_pad : {true, false})
    for (PoolCase c : kCases) {
      c.p.count_include_pad = include_pad;
      const Tensor x = random_tensor(c.shape, 4, -1.0f, 1.0f, MemoryFormat::channels_last);
      const Tensor y = ops::avg_pool2d(Variable(x), c.p).data();
      EXPECT_TRUE(y.is_channels_last());
      EXPECT_LT(max_abs_diff(y, naive_pool(x, c.p, Reduce::avg)), 1e-6)
          << shape_str(c.shape) << " count_include_pad " << include_pad;
    }
}

TEST(AvgPool2d, PaddingCountsDiffer) {
  // A corner window of a 3x3 kernel with padding 1 holds 4 inputs of 9 positions.
  const Tensor x = Tensor::full({1, 16, 2, 2}, 1.0f, MemoryFormat::channels_last);
  const std::vector<float> incl = ops::avg_pool2d(Variable(x), params(3, 3, 1, 1, 1, 1, true)).data().to_vector();
  const std::vector<float> excl = ops::avg_pool2d(Variable(x), params(3, 3, 1, 1, 1, 1, false)).data().to_vector();
  EXPECT_FLOAT_EQ(incl[0], 4.0f / 9.0f);
  EXPECT_FLOAT_EQ(excl[0], 1.0f);
}

TEST(AvgPool2d, GradientMatchesFiniteDifferences) {
  for (bool include_pad : {true, false})
    for (PoolCase c : kGradCases) {
      c.p.count_include_pad = include_pad;
      EXPECT_TRUE(gradcheck([&](const std::vector<Variable>& v) { return ops::avg_pool2d(v[0], c.p); },
                            {random_tensor(c.shape, 5, -1.0f, 1.0f, MemoryFormat::channels_last)}))
          << shape_str(c.shape) << " count_include_pad " << include_pad;
    }
}

TEST(GlobalAvgPool2d, ForwardMatchesNaiveLoop) {
  for (const Shape& s : {Shape{2, 16, 7, 7}, Shape{3, 5, 4, 6}, Shape{2, 64, 1, 1}}) {
    const Tensor x = random_tensor(s, 6, -1.0f, 1.0f, MemoryFormat::channels_last);
    const Tensor y = ops::global_avg_pool2d(Variable(x)).data();
    EXPECT_EQ(y.shape(), (Shape{s[0], s[1], 1, 1}));
    EXPECT_LT(max_abs_diff(y, naive_pool(x, params(s[2], s[3], 1, 1, 0, 0), Reduce::avg)), 1e-6) << shape_str(s);
  }
}

TEST(GlobalAvgPool2d, GradientMatchesFiniteDifferences) {
  EXPECT_TRUE(gradcheck([](const std::vector<Variable>& v) { return ops::global_avg_pool2d(v[0]); },
                        {random_tensor({2, 16, 3, 5}, 7, -1.0f, 1.0f, MemoryFormat::channels_last)}));
}

TEST(Pool2d, ContiguousInputGivesChannelsLastOutput) {
  const Tensor x = random_tensor({1, 3, 4, 4}, 8);  // NCHW memory
  const Tensor y = ops::max_pool2d(Variable(x), params(2, 2, 2, 2, 0, 0)).data();
  EXPECT_TRUE(y.is_channels_last());
  EXPECT_EQ(max_abs_diff(y, naive_pool(x, params(2, 2, 2, 2, 0, 0), Reduce::max)), 0.0);
  EXPECT_TRUE(
      gradcheck([](const std::vector<Variable>& v) { return ops::avg_pool2d(v[0], params(2, 2, 2, 2, 0, 0)); }, {x}));
}

TEST(Pool2d, ShapeErrorsNameOpAndShapes) {
  const Variable x(random_tensor({2, 4, 5, 5}, 9, -1.0f, 1.0f, MemoryFormat::channels_last));
  std::string e = error_of([&] { ops::max_pool2d(x, params(2, 2, 2, 2, 2, 0)); });
  EXPECT_NE(e.find("max_pool2d: padding 2x0 must be between 0 and half the kernel 2x2"), std::string::npos) << e;
  EXPECT_NE(e.find("[2, 4, 5, 5]"), std::string::npos) << e;
  e = error_of([&] { ops::avg_pool2d(x, params(7, 3, 1, 1, 0, 0)); });
  EXPECT_NE(e.find("avg_pool2d: kernel 7x3 is larger than the padded input [2, 4, 5, 5]"), std::string::npos) << e;
  e = error_of([&] { ops::avg_pool2d(x, params(2, 2, 0, 2, 0, 0)); });
  EXPECT_NE(e.find("avg_pool2d: kernel 2x2 and stride 0x2 must be positive"), std::string::npos) << e;
  e = error_of([&] { ops::global_avg_pool2d(Variable(random_tensor({2, 4, 5}, 10))); });
  EXPECT_NE(e.find("global_avg_pool2d: input is f32[2, 4, 5]"), std::string::npos) << e;
  e = error_of([&] { ops::max_pool2d(Variable(random_tensor({4, 5}, 11)), {}); });
  EXPECT_NE(e.find("max_pool2d: input is f32[4, 5]"), std::string::npos) << e;
}

}  // namespace
}  // namespace lpt
