#include <gtest/gtest.h>

#include <string>

#include "core/onednn/context.h"
#include "core/ops/conv.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_helpers.h"

namespace lpt {
namespace {

using ops::Conv2dParams;
using testing::gradcheck;
using testing::max_abs_diff;
using testing::random_tensor;

// Direct definition of PyTorch's conv2d, in double: the reference for the forward checks.
Tensor naive_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  const std::vector<float> xv = x.to_vector(), wv = w.to_vector();
  const std::vector<float> bv = b.defined() ? b.to_vector() : std::vector<float>();
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t O = w.size(0), CG = w.size(1), KH = w.size(2), KW = w.size(3);
  const int64_t OG = O / p.groups;
  const int64_t HO = (H + 2 * p.pad_h - p.dilation_h * (KH - 1) - 1) / p.stride_h + 1;
  const int64_t WO = (W + 2 * p.pad_w - p.dilation_w * (KW - 1) - 1) / p.stride_w + 1;
  std::vector<float> y(size_t(N * O * HO * WO));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < HO; ++i)
        for (int64_t j = 0; j < WO; ++j) {
          double s = bv.empty() ? 0.0 : bv[size_t(o)];
          for (int64_t c = 0; c < CG; ++c)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t h = i * p.stride_h - p.pad_h + kh * p.dilation_h;
                const int64_t ww = j * p.stride_w - p.pad_w + kw * p.dilation_w;
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                const int64_t ci = (o / OG) * CG + c;
                s += double(xv[size_t(((n * C + ci) * H + h) * W + ww)]) *
                     double(wv[size_t(((o * CG + c) * KH + kh) * KW + kw)]);
              }
          y[size_t(((n * O + o) * HO + i) * WO + j)] = float(s);
        }
  return Tensor::from_vector({N, O, HO, WO}, y);
}

struct ConvCase {
  const char* name;
  Shape x, w;
  bool bias;
  Conv2dParams p;
};

// Small shapes covering each parameter; N=2, C=4, 5x5 unless the case needs otherwise.
const ConvCase kCases[] = {
    {"3x3_pad1_bias", {2, 4, 5, 5}, {4, 4, 3, 3}, true, {.pad_h = 1, .pad_w = 1}},
    {"3x3_stride2_pad1", {2, 4, 5, 5}, {6, 4, 3, 3}, false, {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1}},
    {"3x3_dilation2_pad2", {2, 4, 6, 5}, {3, 4, 3, 3}, true,
     {.pad_h = 2, .pad_w = 2, .dilation_h = 2, .dilation_w = 2}},
    {"groups2", {2, 4, 5, 5}, {6, 2, 3, 3}, true, {.pad_h = 1, .pad_w = 1, .groups = 2}},
    {"depthwise", {2, 4, 5, 5}, {4, 1, 3, 3}, true, {.pad_h = 1, .pad_w = 1, .groups = 4}},
    {"depthwise_stride2", {2, 4, 5, 5}, {4, 1, 3, 3}, false,
     {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .groups = 4}},
    {"1x1", {2, 4, 5, 5}, {5, 4, 1, 1}, true, {}},
    {"1x1_stride2", {2, 4, 6, 6}, {5, 4, 1, 1}, false, {.stride_h = 2, .stride_w = 2}},
    {"first_conv_cin1", {2, 1, 5, 5}, {4, 1, 3, 3}, true, {.pad_h = 1, .pad_w = 1}},
    // Non-square kernel, unequal strides and paddings, an output size that floors.
    {"3x2_stride2x1_pad1x0", {2, 4, 6, 7}, {3, 4, 3, 2}, true, {.stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 0}},
};

void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }

class Conv2d : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2d, ForwardMatchesNaiveLoop) {
  const ConvCase& c = GetParam();
  const Tensor x = random_tensor(c.x, 1, -1, 1, MemoryFormat::channels_last);
  const Tensor w = random_tensor(c.w, 2);
  const Tensor b = c.bias ? random_tensor({c.w[0]}, 3) : Tensor();
  const Tensor y = ops::conv2d(Variable(x), Variable(w), c.bias ? Variable(b) : Variable(), c.p).data();
  EXPECT_TRUE(y.is_channels_last());
  const Tensor ref = naive_conv2d(x, w, b, c.p);
  ASSERT_EQ(y.shape(), ref.shape());
  EXPECT_LT(max_abs_diff(y, ref), 1e-5);
}

TEST_P(Conv2d, GradientsMatchFiniteDifferences) {
  const ConvCase& c = GetParam();
  std::vector<Tensor> inputs{random_tensor(c.x, 4, -1, 1, MemoryFormat::channels_last), random_tensor(c.w, 5)};
  if (c.bias) inputs.push_back(random_tensor({c.w[0]}, 6));
  const Conv2dParams p = c.p;
  EXPECT_TRUE(gradcheck(
      [p](const std::vector<Variable>& v) { return ops::conv2d(v[0], v[1], v.size() > 2 ? v[2] : Variable(), p); },
      inputs));
}

INSTANTIATE_TEST_SUITE_P(Cases, Conv2d, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<ConvCase>& i) { return std::string(i.param.name); });

// Only the wanted gradients are computed: each subset of {x, w, b}, including the bias alone
// (frozen weights, which takes the plain-loop bias gradient).
TEST(Conv2dSubsets, EachSubsetOfGradientsMatchesFiniteDifferences) {
  const Conv2dParams p{.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
  const std::vector<Tensor> inputs{random_tensor({1, 3, 5, 5}, 7, -1, 1, MemoryFormat::channels_last),
                                   random_tensor({2, 3, 3, 3}, 8), random_tensor({2}, 9)};
  auto f = [p](const std::vector<Variable>& v) { return ops::conv2d(v[0], v[1], v[2], p); };
  const std::vector<std::vector<bool>> subsets{
      {true, false, false}, {false, true, false}, {false, false, true}, {false, true, true}, {true, false, true}};
  for (const std::vector<bool>& check : subsets) {
    testing::GradcheckOptions opt;
    opt.check = check;
    EXPECT_TRUE(gradcheck(f, inputs, opt)) << "x " << check[0] << " w " << check[1] << " b " << check[2];
  }
}

TEST(Conv2dLayouts, ContiguousInputGivesContiguousInputGradient) {
  const Conv2dParams p{.pad_h = 1, .pad_w = 1};
  const Tensor x = random_tensor({2, 3, 5, 5}, 10);  // NCHW
  const Tensor w = random_tensor({4, 3, 3, 3}, 11);
  Variable xv(x, true), wv(w, true);
  Variable y = ops::conv2d(xv, wv, Variable(), p);
  EXPECT_LT(max_abs_diff(y.data(), naive_conv2d(x, w, Tensor(), p)), 1e-5);
  y.backward(Tensor::full(y.shape(), 1.0f));
  EXPECT_TRUE(xv.grad().is_contiguous());
  EXPECT_TRUE(wv.grad().is_contiguous());
  EXPECT_TRUE(gradcheck([p](const std::vector<Variable>& v) { return ops::conv2d(v[0], v[1], Variable(), p); },
                        {x, w}));
}

TEST(Conv2dLayouts, OneChannelNchwInputIsUsedWithoutCopy) {
  // A one-channel NCHW tensor already lies in nhwc order: its gradient keeps its strides.
  const Tensor x = random_tensor({2, 1, 5, 5}, 12);
  Variable xv(x, true);
  Variable y = ops::conv2d(xv, Variable(random_tensor({4, 1, 3, 3}, 13)), Variable(), {});
  y.backward(Tensor::full(y.shape(), 1.0f));
  EXPECT_EQ(xv.grad().strides(), x.strides());
}

TEST(Conv2dCache, PrimitivesAreCreatedOncePerShape) {
  const Conv2dParams p{.pad_h = 1, .pad_w = 1};
  const Tensor x = random_tensor({3, 8, 6, 6}, 14, -1, 1, MemoryFormat::channels_last);
  Variable w(random_tensor({8, 8, 3, 3}, 15), true);
  auto step = [&] {
    Variable y = ops::conv2d(Variable(x, true), w, Variable(), p);
    y.backward(Tensor::full(y.shape(), 1.0f));
  };
  step();
  const size_t cached = onednn::PrimitiveCache::size(), recorded = onednn::recorded_impls().size();
  step();
  EXPECT_EQ(onednn::PrimitiveCache::size(), cached);
  EXPECT_EQ(onednn::recorded_impls().size(), recorded);
}

TEST(Conv2dDeterminism, RepeatedCallsGiveIdenticalBits) {
  const Conv2dParams p{.pad_h = 1, .pad_w = 1};
  const Tensor x = random_tensor({4, 16, 8, 8}, 16, -1, 1, MemoryFormat::channels_last);
  const Tensor w = random_tensor({16, 16, 3, 3}, 17);
  const Tensor b = random_tensor({16}, 18);
  const Tensor dy = random_tensor({4, 16, 8, 8}, 19, -1, 1, MemoryFormat::channels_last);
  std::vector<std::vector<float>> first;
  for (int run = 0; run < 2; ++run) {
    Variable xv(x, true), wv(w, true), bv(b, true);
    Variable y = ops::conv2d(xv, wv, bv, p);
    y.backward(dy);
    const std::vector<std::vector<float>> got{y.data().to_vector(), xv.grad().to_vector(), wv.grad().to_vector(),
                                              bv.grad().to_vector()};
    if (run == 0) first = got;
    else EXPECT_EQ(got, first);
  }
}

using testing::error_of;

TEST(Conv2dErrors, ShapeMismatchesNameTheOpAndBothShapes) {
  auto conv = [](const Shape& x, const Shape& w, const Shape& b, Conv2dParams p = {}) {
    return error_of([&] {
      const Variable bias = b.empty() ? Variable() : Variable(Tensor::zeros(b));
      ops::conv2d(Variable(Tensor::zeros(x)), Variable(Tensor::zeros(w)), bias, p);
    });
  };
  EXPECT_EQ(conv({8, 1, 28, 28}, {16, 3, 3, 3}, {}),
            "conv2d: weight [16, 3, 3, 3] expects 3 input channels, input is [8, 1, 28, 28]");
  EXPECT_EQ(conv({2, 4, 5, 5}, {6, 1, 3, 3}, {}, {.groups = 2}),
            "conv2d: weight [6, 1, 3, 3] with groups 2 expects 2 input channels, input is [2, 4, 5, 5]");
  EXPECT_EQ(conv({2, 4, 5, 5}, {5, 2, 3, 3}, {}, {.groups = 2}),
            "conv2d: weight [5, 2, 3, 3] has 5 output channels, not divisible by groups 2");
  EXPECT_EQ(conv({2, 4, 5, 5}, {6, 4, 3, 3}, {4}),
            "conv2d: bias [4] does not match weight [6, 4, 3, 3]: expected [6]");
  EXPECT_EQ(conv({4, 5, 5}, {6, 4, 3, 3}, {}), "conv2d: input [4, 5, 5] must be 4-D [N, C_in, H, W]");
  EXPECT_EQ(conv({2, 4, 5, 5}, {6, 4, 9}, {}), "conv2d: weight [6, 4, 9] must be 4-D [C_out, C_in/groups, KH, KW]");
  EXPECT_EQ(conv({2, 4, 2, 2}, {6, 4, 3, 3}, {}),
            "conv2d: input [2, 4, 2, 2] padded by 0x0 is smaller than the 3x3 (dilated) kernel of weight [6, 4, 3, 3]");
  EXPECT_NE(conv({2, 4, 5, 5}, {6, 4, 3, 3}, {}, {.stride_h = 0}).find("conv2d: expected stride"), std::string::npos);
  EXPECT_EQ(error_of([] {
              ops::conv2d(Variable(Tensor::zeros({2, 4, 5, 5}, DType::bf16)), Variable(Tensor::zeros({6, 4, 3, 3})),
                          Variable(), {});
            }),
            "conv2d: expected f32 input, weight and bias, got bf16 [2, 4, 5, 5]");
}

}  // namespace
}  // namespace lpt
