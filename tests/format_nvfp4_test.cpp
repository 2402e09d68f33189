// NVFP4 (SPEC §1.4): hand-computed blocks, a naive loop in SPEC's fp32 order of operations,
// frozen and sharded tensor scales, properties, stochastic rounding, and the bf16 lane's view of
// it (values are fl32(e·s_b) times s_t, fl32(e·s_b) a bf16).
#include <gtest/gtest.h>

#include <cmath>
#include <span>
#include <vector>

#include "core/bf16.h"
#include "formats/encode.h"
#include "formats/format.h"
#include "formats/nvfp4.h"
#include "formats/quantize.h"
#include "tests/support/format_kernel_testing.h"
#include "tests/support/gradcheck.h"

namespace lpt::formats {
namespace {

using namespace testing;

std::vector<float> quantize(const std::vector<float>& x, const QuantizeOptions& o = nearest(),
                            const BufferLayout* l = nullptr) {
  const BufferLayout lay = l ? *l : flat(int64_t(x.size()));
  return quantized(nvfp4_quantize, Nvfp4Params{}, x, lay, o);
}

TEST(FormatNvfp4, HandComputedBlocks) {
  // amax_t = 2688, so s_t = 1.
  std::vector<float> x(64, 0.0f);
  // Block 0: amax 2688 → s_b = E4M3(2688/6) = 448; elements x/448.
  const float b0[] = {2688, 1344, 672, 224, -448, 100};  // 6, 3, 1.5, 0.5, −1, 0.22 → 0
  const float w0[] = {2688, 1344, 672, 224, -448, 0};
  // Block 1: amax 30 → s_b = 5; 7/5 = 1.4 → 1.5; 12.5/5 = 2.5 ties to 2; −3.75/5 = −0.75 ties to −1.
  const float b1[] = {30, 7, 12.5f, -3.75f};
  const float w1[] = {30, 7.5f, 10, -5};
  // Block 2: amax 13 → 13/6 = 2.1667 → E4M3 2.25; 13/2.25 = 5.78 → 6 → 13.5.
  // Block 3: amax 0.001 → 0.001/6 is below half E4M3's smallest subnormal 2^−9: s_b = 0, block zero.
  for (int i = 0; i < 6; ++i) x[size_t(i)] = b0[i];
  for (int i = 0; i < 4; ++i) x[size_t(16 + i)] = b1[i];
  x[32] = 13;
  x[48] = 0.001f;
  x[49] = -0.0005f;
  const std::vector<float> y = quantize(x);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y[size_t(i)], w0[i]) << i;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(y[size_t(16 + i)], w1[i]) << i;
  EXPECT_EQ(y[32], 13.5f);
  EXPECT_EQ(y[48], 0.0f);
  EXPECT_EQ(y[49], 0.0f);
}

// SPEC's order of operations, written out per block in fp32 with the minifloat rounding of
// formats/minifloat (E4M3 for s_b, E2M1 for e) applied through quantize() of single values.
std::vector<float> naive(const std::vector<float>& x, const RunGeometry& g) {
  float amax = 0;
  for (float v : x) amax = std::max(amax, std::fabs(v));
  const float st = amax == 0 ? 1.0f : amax / 2688.0f;
  const Format e4m3 = Format::parse_text(R"({"type":"fp8_e4m3"})"), e2m1 = Format::parse_text(R"({"type":"fp4_e2m1"})");
  const auto round_to = [](const Format& f, float v) {
    return formats::quantize(Tensor::from_vector({1}, {v}), f).data<float>()[0];
  };
  std::vector<float> y(x.size());
  for (const std::vector<size_t>& block : blocks_of(g, 16)) {
    float amax_b = 0;
    for (size_t i : block) amax_b = std::max(amax_b, std::fabs(x[i]));
    const float sb = round_to(e4m3, amax_b / (6.0f * st));
    for (size_t i : block) y[i] = sb == 0 ? 0.0f : (round_to(e2m1, x[i] / (sb * st)) * sb) * st;
  }
  return y;
}

TEST(FormatNvfp4, MatchesNaiveLoopInSpecOrder) {
  for (const auto& [outer, len, inner] : {std::tuple{3, 40, 1}, std::tuple{2, 33, 5}, std::tuple{1, 16, 4}}) {
    const std::vector<float> x =
        binade_spread(size_t(outer * len * inner), uint64_t(len), {.max_binade = 12, .kinds = 5, .period = 7,
                                                                  .pow2_divisor = 1, .tie_divisor = 4.0f});
    const BufferLayout l = layout(outer, len, inner);
    EXPECT_TRUE(same_bits(quantize(x, nearest(), &l), naive(x, l.runs))) << outer << "x" << len << "x" << inner;
  }
}

TEST(FormatNvfp4, TensorScaleIsAClipValueThatStatsReportAndEvaluationFreezes) {
  const std::vector<float> x = {1, -2, 3, 5376, 0.5f};
  QuantizeStats stats;
  QuantizeOptions o = nearest();
  o.stats = &stats;
  quantize(x, o);
  EXPECT_EQ(stats.clip, std::vector<float>{5376});
  EXPECT_EQ(stats.scale, std::vector<float>{2});
  // Frozen at amax 2688 (s_t = 1): 5376 saturates to 6·448, the rest as computed with s_t = 1.
  QuantizeOptions frozen = nearest();
  const float clip = 2688;
  frozen.fixed_clip = std::span<const float>(&clip, 1);
  const std::vector<float> want = quantize({1, -2, 3, 2688, 0.5f});
  const std::vector<float> got = quantize(x, frozen);
  EXPECT_EQ(got[3], 2688.0f);
  for (int i : {0, 1, 2, 4}) EXPECT_EQ(got[size_t(i)], want[size_t(i)]) << i;
  EXPECT_EQ(quantize(std::vector<float>(20, 0.0f)), std::vector<float>(20, 0.0f));
  EXPECT_EQ(nvfp4_tensor_scale(0.0f), 1.0f);
  EXPECT_GT(nvfp4_tensor_scale(1e-44f), 0.0f);
}

TEST(FormatNvfp4, Properties) {
  const std::vector<float> x = binade_spread(16 * 40, 3, {.max_binade = 20, .kinds = 5, .period = 16,
                                                          .pow2_divisor = 1, .tie_divisor = 4.0f});
  const std::vector<float> y = quantize(x);
  EXPECT_TRUE(sign_symmetric(y, quantize(negated(x))));
  // Not idempotent in general: Q(x)'s amax is 6·s_b·s_t, not x's, so s_t moves. At a frozen s_t it
  // is, where s_b is a normal E4M3 (a block's max then lands at 6 again: within E4M3's 2^−4
  // relative rounding of amax_b/(6·s_t), amax_b/(s_b·s_t) is in [5.65, 6.4]).
  const std::vector<float> narrow = binade_spread(16 * 40, 4, {.max_binade = 6, .kinds = 5, .period = 16,
                                                               .pow2_divisor = 1, .tie_divisor = 4.0f});
  QuantizeStats stats;
  QuantizeOptions measure = nearest();
  measure.stats = &stats;
  const std::vector<float> yn = quantize(narrow, measure);
  QuantizeOptions frozen = nearest();
  frozen.fixed_clip = stats.clip;
  EXPECT_TRUE(same_bits(quantize(yn, frozen), yn)) << "idempotent at a frozen s_t";
  for (size_t b = 0; b < x.size(); b += 16) EXPECT_TRUE(monotone(x, y, b, b + 16)) << "block " << b / 16;
  // Each value is fl32(q·s_t) with q = fl32(e·s_b) a bf16: what the bf16 lane factors out (SPEC §9).
  const Format f = Format::parse_text(R"({"type":"nvfp4"})");
  const Tensor t = formats::quantize(Tensor::from_vector({int64_t(x.size())}, x), f);
  EXPECT_TRUE(f.scales().tensor_scale_outside);
  EXPECT_EQ(f.exact_type(), DType::bf16);
  EXPECT_NE(t.format_scale(), 1.0f);
  const Bf16Copy c = to_bf16_exact(t);  // throws if some value is not a bf16 times s_t
  EXPECT_TRUE(same_bits(bf16_to_f32(c.data, c.scale).to_vector(), t.to_vector()));
  EXPECT_EQ(f.bits_per_value(), 4.5);
  EXPECT_EQ(f.name(), "nvfp4");
}

TEST(FormatNvfp4, StochasticRoundingIsUnbiasedAndIndependentOfThreads) {
  std::vector<float> x(16 * 4096);
  for (size_t i = 0; i < x.size(); ++i) x[i] = i % 16 == 0 ? 6.0f : 1.0f + 0.37f * float(i % 7) / 7.0f;
  const QuantizeOptions o = stochastic_rounding("layer1.0.conv1/errors", 5);
  const std::vector<float> y = with_threads(1, [&] { return quantize(x, o); });
  EXPECT_TRUE(same_bits(y, with_threads(2, [&] { return quantize(x, o); })));
  EXPECT_LT(std::fabs(z_score(rounding_errors(x, y, 16))), 5.0);
  EXPECT_FALSE(same_bits(y, quantize(x)));
}

TEST(FormatNvfp4, ErrorsNameTheTensor) {
  QuantizeOptions o = nearest();
  o.name = "layer3.fc/weights";
  EXPECT_TRUE(throws_naming([&] { quantize({1, NAN, 2}, o); }, "layer3.fc/weights"));
  EXPECT_TRUE(throws_naming([&] { Format::parse_text(R"({"type":"nvfp4","block_size":32})"); }, "block_size"));
}

// ---- 2-D weight blocks ("weight_blocks": "2d", SPEC §1.4) ----

// A weight [O, C] laid out as the forward GEMM reads it (runs along C, outer index O) with 16×16
// blocks.
BufferLayout weight_2d(int64_t O, int64_t C) {
  BufferLayout l = BufferLayout::row_major({O, C}, 1, std::nullopt);
  l.block_rows = kNvfp4Block;
  return l;
}

Format nvfp4_w2d() { return Format::parse_text(R"({"type":"nvfp4","weight_blocks":"2d"})"); }

// One large value sets the scale of its whole 16×16 block, not only of its row's 16 values.
// amax_t = 2688 (s_t = 1): the block holding it gets s_b = E4M3(2688/6) = 448, where 1.0 / 448
// rounds to 0; a block of ones gets s_b = E4M3(1/6) = 0.171875 and 1/0.171875 = 5.8 → 6, value
// 1.03125. 1-D blocks give the other rows of that block their own scale (1.03125).
TEST(FormatNvfp4, TwoDimensionalWeightBlocksShareOneScalePerTile) {
  const int64_t O = 16, C = 32;
  std::vector<float> w(size_t(O * C), 1.0f);
  w[0] = 2688.0f;
  std::vector<float> y2(w.size()), y1(w.size());
  formats::quantize(nvfp4_w2d(), w.data(), y2.data(), weight_2d(O, C), nearest());
  formats::quantize(nvfp4_w2d(), w.data(), y1.data(), BufferLayout::row_major({O, C}, 1, std::nullopt), nearest());
  EXPECT_EQ(y2[0], 2688.0f);
  EXPECT_EQ(y1[0], 2688.0f);
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c) {
      if (o == 0 && c == 0) continue;
      const size_t i = size_t(o * C + c);
      EXPECT_EQ(y2[i], c < 16 ? 0.0f : 1.03125f) << o << "," << c;
      EXPECT_EQ(y1[i], o == 0 && c < 16 ? 0.0f : 1.03125f) << o << "," << c;
    }
}

// The point of 2-D blocks: wᵀ (as backward-data multiplies it) is quantized exactly as the
// transpose of w, including partial tiles (40 × 24 is no multiple of 16); encode and decode keep
// the blocking (scales [ceil(O/16), ceil(C/16)]).
TEST(FormatNvfp4, TwoDimensionalBlocksQuantizeTheTransposeIdentically) {
  const int64_t O = 40, C = 24;
  const std::vector<float> w = lpt::testing::random_tensor({O, C}, 3, -2.0f, 2.0f).to_vector();
  std::vector<float> wt(w.size());
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c) wt[size_t(c * O + o)] = w[size_t(o * C + c)];
  std::vector<float> q(w.size()), qt(w.size());
  formats::quantize(nvfp4_w2d(), w.data(), q.data(), weight_2d(O, C), nearest());
  formats::quantize(nvfp4_w2d(), wt.data(), qt.data(), weight_2d(C, O), nearest());
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c) ASSERT_EQ(qt[size_t(c * O + o)], q[size_t(o * C + c)]) << o << "," << c;

  QuantizeOptions o = nearest();
  o.axis = 1;
  o.block_rows = kNvfp4Block;
  const Encoded e = encode(Tensor::from_vector({O, C}, w), nvfp4_w2d(), o);
  EXPECT_EQ(decode(e).to_vector(), q);
  for (const EncodedArray& a : encoded_arrays(e))
    if (a.name == "scales") EXPECT_EQ(a.data.shape(), (Shape{3, 2}));
  const Encoded back = encoded_from_arrays(nvfp4_w2d(), e.shape, e.axis, e.channel_axis, e.block_rows,
                                           encoded_arrays(e), "w");
  EXPECT_EQ(decode(back).to_vector(), q);
  // A format without 2-D blocks refuses a 2-D layout.
  std::vector<float> y(w.size());
  EXPECT_THROW(formats::quantize(Format::parse_text(R"({"type":"nvfp4"})"), w.data(), y.data(), weight_2d(O, C),
                                 nearest()),
               Error);
}

}  // namespace
}  // namespace lpt::formats
