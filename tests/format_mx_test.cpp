// OCP Microscaling MXFP8 / MXFP6 / MXFP4 / MXINT8 (SPEC §1.4): hand-computed blocks, a naive loop
// written after Microsoft's microxcaling (mx/mx_ops.py _quantize_mx, round "even", but with the
// frexp exponent), its MXINT8 hardware test vectors, properties, encode/decode, stochastic
// rounding and thread-count independence.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "formats/mx.h"
#include "tests/support/format_kernel_testing.h"

namespace lpt::formats {
namespace {

using namespace testing;

const ElementType kTypes[] = {ElementType::e4m3, ElementType::e5m2, ElementType::e3m2,
                              ElementType::e2m3, ElementType::e2m1, ElementType::int8};

MxParams mx(ElementType t, int block = 32) { return {.element = t, .block_size = block}; }

QuantizeOptions stochastic(uint64_t seed = 7) { return stochastic_rounding("layer2.0.conv1/activations/forward", seed, 11); }

std::vector<float> quantize(const MxParams& p, const std::vector<float>& x, const BufferLayout& l,
                            const QuantizeOptions& o = nearest()) {
  return quantized(mx_quantize, p, x, l, o);
}
std::vector<float> quantize(const MxParams& p, const std::vector<float>& x) { return quantized(mx_quantize, p, x); }

int frexp_exponent(double v) {
  int e;
  std::frexp(v, &e);
  return e;
}

// microxcaling's _quantize_mx in double: shared_exp = floor(log2(max)) − emax clamped to
// [−127, 127] (−127 for an all-zero block), A / 2^shared_exp rounded into the element format
// (private exponent floor(log2|a|) clipped at emin, RNE, clamp at ±max_norm), times 2^shared_exp.
std::vector<float> reference(const MxParams& p, const std::vector<float>& x, const RunGeometry& g) {
  const ElementTraits& t = element_traits(p.element);
  std::vector<float> y(x.size());
  for (const std::vector<size_t>& block : blocks_of(g, p.block_size)) {
    double amax = 0;
    for (size_t k : block) amax = std::max(amax, std::fabs(double(x[k])));
    const int e = amax == 0 ? -127 : std::clamp(frexp_exponent(amax) - 1 - t.emax, -127, 127);
    for (size_t k : block) {
      const double a = std::ldexp(double(x[k]), -e);
      double q;
      if (p.element == ElementType::int8) {
        q = std::clamp(std::nearbyint(a * 64), -127.0, 127.0) / 64 + 0.0;  // + 0.0: the int code 0 is +0
      } else {
        const int pe = a == 0 ? t.emin : std::max(frexp_exponent(std::fabs(a)) - 1, t.emin);
        q = std::ldexp(std::nearbyint(std::ldexp(a, t.mantissa_bits - pe)), pe - t.mantissa_bits);
        q = std::clamp(q, -double(t.max_normal), double(t.max_normal));
      }
      y[k] = float(std::ldexp(q, e));
    }
  }
  return y;
}

// Blocks of 32 whose maxima spread over many binades, with zeros, ties and all-zero blocks.
std::vector<float> spread_values(size_t n, uint64_t seed) {
  std::vector<float> x =
      binade_spread(n, seed, {.max_binade = 40, .kinds = 11, .period = 32, .pow2_divisor = 8, .tie_divisor = 16});
  for (size_t i = 64 * 5; i < std::min(n, size_t(64 * 5 + 32)); ++i) x[i] = 0.0f;  // an all-zero block
  return x;
}

TEST(FormatMx, HandComputedMxfp4) {
  // Block size 4 for brevity (the OCP block of 32 is the default and is tested below).
  const std::vector<float> x = {
      6.0f, 0.3f, -2.5f, 5.0f,   // max 6: E(6) = 3, E = 3 − 1 − 2 = 0; ties −2.5 → −2, 5 → 4
      1.0f, 0.3f, 0.1f, -0.74f,  // max 1: E = −2, X = 0.25: {4, 1.2, 0.4, −2.96} → {4, 1, 0.5, −3}
      7.0f, 6.9f, -7.0f, 0.0f,   // max 7: E = 0, 7 saturates to 6
      0.75f, 0.1f, 0.0f, 0.0f,   // max 0.75: E(0.75) = 0, E = −3, X = 1/8: 0.75 → 6, 0.1 → 0.8 → 1
      0.0f, -0.0f, 0.0f, 0.0f,   // all zero: E = −127
      -0.05f, 3.0f,              // partial block (run of 22): max 3, E = −1: {−0.1, 6} → {−0, 6}
  };
  const std::vector<float> want = {6.0f, 0.5f, -2.0f, 4.0f, 1.0f,   0.25f, 0.125f, -0.75f, 6.0f, 6.0f, -6.0f,
                                   0.0f, 0.75f, 0.125f, 0.0f, 0.0f, 0.0f,  -0.0f,  0.0f,   0.0f, -0.0f, 3.0f};
  EXPECT_TRUE(same_bits(quantize(mx(ElementType::e2m1, 4), x), want));
  const MxEncoded e = mx_encode(mx(ElementType::e2m1, 4), x.data(), flat(22), nearest());
  EXPECT_EQ(e.scales, (std::vector<uint8_t>{127, 125, 127, 124, 0, 126}));
  ASSERT_EQ(e.elements.bytes.size(), 11u);
  EXPECT_EQ(e.elements.bytes[0], 0x17);  // 6 = 0.11.1, 0.5 = 0.00.1
  EXPECT_EQ(e.elements.bytes[1], 0x6C);  // −2 = 1.10.0, 4 = 0.11.0
  EXPECT_EQ(e.elements.bytes[2], 0x26);  // 4, 1
  EXPECT_EQ(e.elements.bytes[3], 0xD1);  // 0.5 (= 0.125/X), −3 = 1.10.1
}

TEST(FormatMx, HandComputedMxfp8AndMxint8) {
  // MXFP8 E4M3: max 1 → E = 1 − 1 − 8 = −8; 0.001·2^8 = 0.256 → step 2^−5: 8.192 → 8 → 0.25·2^−8.
  EXPECT_TRUE(same_bits(quantize(mx(ElementType::e4m3), {1.0f, 0.001f, -0.5f}), {1.0f, 0.0009765625f, -0.5f}));
  // MXFP8 E5M2: max 1 → E = −15; 0.3·2^15 = 9830.4 → step 2^11: 4.8 → 5 → 5·2^(11−15) = 0.3125.
  EXPECT_TRUE(same_bits(quantize(mx(ElementType::e5m2), {1.0f, 0.3f}), {1.0f, 0.3125f}));
  // MXINT8: max 1.999 → E = 0; elements k/64: 0.64 → 1, 0.5 → 0 (tie), 1.5 → 2, −127.94 → −127.
  EXPECT_TRUE(same_bits(quantize(mx(ElementType::int8), {1.5f, 0.01f, 0.0078125f, 0.0234375f, -1.999f}),
                        {1.5f, 0.015625f, 0.0f, 0.03125f, -1.984375f}));
  const MxEncoded e = mx_encode(mx(ElementType::int8), std::vector<float>{1.5f, -1.999f, -0.001f}.data(), flat(3),
                                nearest());
  EXPECT_EQ(e.elements.bytes, (std::vector<uint8_t>{96, 0x81, 0}));  // k = 96, −127, 0 (+0)
  EXPECT_EQ(e.scales, (std::vector<uint8_t>{127}));
}

TEST(FormatMx, MicroxcalingInt8HardwareVectors) {
  // mx/tests/test_corners_mx.py test_mx_hw_test (MXINT8, blocks of 10). That test rounds with
  // "nearest" (ties away from zero); with "even" the ties marked below go to the even k instead.
  const std::vector<float> x = {
      1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f,
      1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 2.0f, 2.0f, 2.0f, 2.0f, 2.0f,
      -1.0f, -1.0f, -1.0f, -1.0f, -1.0f, -2.0f, -2.0f, -2.0f, -2.0f, -2.0f,
      1.0f, 1.0f, 1.0f, 1.0f, 1.0f, -2.0f, -2.0f, -2.0f, -2.0f, -2.0f,
      1.015625f, 1.0234375f, 1.03125f, 1.0390625f, 1.25f, 1.2578125f, 1.9375f, 1.9453125f, 1.984375f, 1.9921875f,
      -1.984375f, -1.9765625f, -1.96875f, -1.9609375f, -1.9375f, -1.9296875f, -1.75f, -1.7421875f, -1.0f, -1.9921875f,
      1.99609375f, 1.98828125f, 0.0f, 0.00390625f, 0.0078125f, 0.01171875f, -0.015625f, -0.01171875f, -0.0078125f,
      -0.00390625f};
  const std::vector<float> want = {
      1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f,
      1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 2.0f, 2.0f, 2.0f, 2.0f, 2.0f,
      -1.0f, -1.0f, -1.0f, -1.0f, -1.0f, -2.0f, -2.0f, -2.0f, -2.0f, -2.0f,
      1.0f, 1.0f, 1.0f, 1.0f, 1.0f, -2.0f, -2.0f, -2.0f, -2.0f, -2.0f,
      // "nearest": 1.046875 (66.5 → 67), 1.265625 (80.5 → 81), 1.953125 (124.5 → 125)
      1.015625f, 1.03125f, 1.03125f, 1.03125f, 1.25f, 1.25f, 1.9375f, 1.9375f, 1.984375f, 1.984375f,
      // "nearest": −1.984375 (−126.5 → −127)
      -1.984375f, -1.96875f, -1.96875f, -1.96875f, -1.9375f, -1.9375f, -1.75f, -1.75f, -1.0f, -1.984375f,
      // "nearest": 0.015625 (0.5 → 1), −0.015625 (−0.5 → −1); a zero k is +0 here
      1.984375f, 1.984375f, 0.0f, 0.0f, 0.0f, 0.015625f, -0.015625f, -0.015625f, 0.0f, 0.0f};
  EXPECT_TRUE(same_bits(quantize(mx(ElementType::int8, 10), x), want));
}

TEST(FormatMx, MatchesNaiveLoop) {
  for (const ElementType t : kTypes)
    for (const BufferLayout& l : {flat(2000), layout(3, 100, 1), layout(2, 70, 9)}) {
      const std::vector<float> x = spread_values(size_t(l.numel()), 13);
      EXPECT_TRUE(same_bits(quantize(mx(t), x, l), reference(mx(t), x, l.runs)))
          << element_traits(t).name << " inner=" << l.runs.inner;
    }
  // Tiny maxima: E clamps at −127 (2^−127 is a subnormal fp32 scale).
  for (const ElementType t : kTypes) {
    const std::vector<float> x = {std::ldexp(1.0f, -140), std::ldexp(-3.0f, -145), std::ldexp(1.0f, -149), 0.0f};
    EXPECT_TRUE(same_bits(quantize(mx(t), x), reference(mx(t), x, flat(4).runs))) << element_traits(t).name;
  }
}

TEST(FormatMx, Properties) {
  for (const ElementType t : kTypes) {
    const std::vector<float> x = spread_values(2048, 5);
    const std::vector<float> y = quantize(mx(t), x);
    EXPECT_TRUE(same_bits(quantize(mx(t), y), y)) << "idempotent " << element_traits(t).name;
    ASSERT_TRUE(sign_symmetric(y, quantize(mx(t), negated(x))));
    for (size_t b = 0; b < x.size(); b += 32) {
      ASSERT_TRUE(monotone(x, y, b, b + 32)) << "in a block";
      // Every error is at most one step of the top binade: half a step, or the saturation above max.
      float amax = 0, err = 0;
      for (size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(x[i])), err = std::max(err, std::fabs(y[i] - x[i]));
      const ElementTraits& tr = element_traits(t);
      const int bits = t == ElementType::int8 ? 6 : tr.mantissa_bits;
      if (amax > 0) {
        ASSERT_LE(err, std::ldexp(amax, -bits)) << "error ≤ one step of the largest binade (saturation)";
      }
    }
  }
}

TEST(FormatMx, InPlaceAndStridedRuns) {
  const int64_t outer = 2, len = 75, inner = 5;
  const std::vector<float> x = spread_values(size_t(outer * len * inner), 6);
  const std::vector<float> xt = swap_inner_axes(x, outer, len, inner);
  for (const ElementType t : kTypes) {
    std::vector<float> y = x;
    mx_quantize(mx(t), y.data(), y.data(), layout(outer, len, inner), nearest());
    const std::vector<float> yt = quantize(mx(t), xt, layout(outer * inner, len, 1));
    ASSERT_TRUE(same_bits(swap_inner_axes(yt, outer, inner, len), y)) << element_traits(t).name;
  }
}

TEST(FormatMx, EncodeDecodeRoundTrip) {
  for (const ElementType t : kTypes)
    for (const BufferLayout& l : {flat(1001), layout(3, 41, 5)})
      for (const QuantizeOptions& o : {nearest(), stochastic()}) {
        const std::vector<float> x = spread_values(size_t(l.numel()), 8);
        const MxEncoded e = mx_encode(mx(t), x.data(), l, o);
        EXPECT_EQ(int64_t(e.scales.size()), num_blocks(mx(t), l.runs));
        EXPECT_EQ(e.elements.bits, element_traits(t).bits);
        std::vector<float> y(x.size());
        mx_decode(mx(t), e, y.data(), l);
        EXPECT_TRUE(same_bits(y, quantize(mx(t), x, l, o))) << element_traits(t).name;
      }
}

TEST(FormatMx, BitsPerValue) {
  EXPECT_DOUBLE_EQ(bits_per_value(mx(ElementType::e2m1)), 4.25);
  EXPECT_DOUBLE_EQ(bits_per_value(mx(ElementType::e3m2)), 6.25);
  EXPECT_DOUBLE_EQ(bits_per_value(mx(ElementType::e2m3)), 6.25);
  EXPECT_DOUBLE_EQ(bits_per_value(mx(ElementType::e4m3)), 8.25);
  EXPECT_DOUBLE_EQ(bits_per_value(mx(ElementType::int8)), 8.25);
}

TEST(FormatMx, StochasticRoundingIsUnbiased) {
  // MXFP4 blocks with maximum 6 (X = 1) and the rest in [2.1, 2.4): nearest always gives 2.
  const size_t n = 1 << 20;
  std::vector<float> x(n);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(2.1f, 2.4f);
  for (size_t i = 0; i < n; ++i) x[i] = i % 32 == 0 ? 6.0f : u(rng);
  auto z = [&](const QuantizeOptions& o) {
    return z_score(rounding_errors(x, quantize(mx(ElementType::e2m1), x, flat(int64_t(n)), o), 32));
  };
  EXPECT_LT(std::fabs(z(stochastic())), 5.0);
  EXPECT_GT(std::fabs(z(nearest())), 5.0);
}

TEST(FormatMx, StochasticRoundingIndependentOfThreads) {
  const std::vector<float> x = spread_values(32 * 700, 10);
  for (const ElementType t : {ElementType::e2m1, ElementType::int8, ElementType::e4m3})
    for (const BufferLayout& l : {flat(32 * 700), layout(7, 64, 50)}) {
      const auto sr = [&] { return quantize(mx(t), x, l, stochastic()); };
      const std::vector<float> y1 = with_threads(1, sr), y2 = with_threads(2, sr);
      EXPECT_TRUE(same_bits(y1, y2)) << element_traits(t).name;
      EXPECT_FALSE(same_bits(y1, quantize(mx(t), x, l, stochastic(9))));
    }
}

TEST(FormatMx, ErrorsNameTheTensor) {
  std::vector<float> x(64, 1.0f);
  x[40] = INFINITY;
  QuantizeOptions o;
  o.name = "conv1/weights";
  EXPECT_TRUE(throws_naming([&] { mx_quantize(mx(ElementType::e2m1), x.data(), x.data(), flat(64), o); }, o.name));
  x[40] = NAN;
  EXPECT_THROW(mx_encode(mx(ElementType::int8), x.data(), flat(64), o), Error);
  EXPECT_THROW(validate(mx(ElementType::e2m1, 0)), Error);
  MxEncoded e = mx_encode(mx(ElementType::e2m1), std::vector<float>(64, 1.0f).data(), flat(64), nearest());
  std::vector<float> y(64);
  e.scales[1] = 0xFF;  // E8M0 NaN
  EXPECT_THROW(mx_decode(mx(ElementType::e2m1), e, y.data(), flat(64)), Error);
}

}  // namespace
}  // namespace lpt::formats
