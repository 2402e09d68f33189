// HBFP (SPEC §1.2): hand-computed blocks, a naive reference loop, properties, encode/decode,
// stochastic rounding and thread-count independence.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "core/error.h"
#include "formats/hbfp.h"
#include "tests/support/format_kernel_testing.h"

namespace lpt::formats {
namespace {

using namespace testing;

HbfpParams hbfp(int m, int block, int exponent_bits = 0) {
  return {.mantissa_bits = m, .block_size = block, .exponent_bits = exponent_bits};
}

QuantizeOptions stochastic(uint64_t seed = 7) {
  QuantizeOptions o = stochastic_rounding("layer1.0.conv1/weights/forward", seed, 3);
  o.name = "sr_tensor";
  return o;
}

std::vector<float> quantize(const HbfpParams& p, const std::vector<float>& x, const BufferLayout& l,
                            const QuantizeOptions& o = nearest()) {
  return quantized(hbfp_quantize, p, x, l, o);
}

// SPEC §1.2 written as a naive loop in double: e = frexp exponent of the block max, step = 2^(e−m).
std::vector<float> reference(const HbfpParams& p, const std::vector<float>& x, const RunGeometry& g) {
  std::vector<float> y(x.size());
  const int m = p.mantissa_bits;
  const double limit = (1 << m) - 1;
  for (const std::vector<size_t>& block : blocks_of(g, p.block_size)) {
    double mx = 0;
    for (size_t k : block) mx = std::max(mx, std::fabs(double(x[k])));
    int e = 0;
    std::frexp(mx, &e);
    if (p.exponent_bits > 0) e = std::clamp(e, -(1 << (p.exponent_bits - 1)), (1 << (p.exponent_bits - 1)) - 1);
    const bool zero = mx == 0 || e - m < -149;
    const double step = std::ldexp(1.0, e - m);
    for (size_t k : block) {
      const double n = zero ? 0.0 : std::clamp(std::nearbyint(x[k] / step), -limit, limit);
      y[k] = n == 0 ? 0.0f : float(n * step);
    }
  }
  return y;
}

// Values spread over many binades, with zeros, exact powers of two and ties mixed in.
std::vector<float> spread_values(size_t n, uint64_t seed) {
  return binade_spread(n, seed, {.max_binade = 30, .kinds = 9, .period = 16, .pow2_divisor = 4, .tie_divisor = 8});
}

TEST(FormatHbfp, HandComputedBlock) {
  // max 2.5 = 0.625·2^2 → e = 2, step 2^(2−3) = 0.5; n = RNE(x/0.5) in [−7, 7].
  const std::vector<float> x = {0.3f, -1.0f, 2.5f, 0.0f, 0.25f, 0.75f, 1.25f, -0.2f};
  const std::vector<float> want = {0.5f, -1.0f, 2.5f, 0.0f, 0.0f /*0.5 → 0*/, 1.0f /*1.5 → 2*/, 1.0f /*2.5 → 2*/,
                                   0.0f /*−0.4 → +0*/};
  EXPECT_TRUE(same_bits(quantize(hbfp(3, 8), x, flat(8)), want));
}

TEST(FormatHbfp, PowerOfTwoMaximumAndSaturation) {
  // max 4 = 0.5·2^3 → e = 3 (not 2), step 1: HBFPEmulator's ceil(log2(4 + 1e-8)) = 3 as well here.
  EXPECT_TRUE(same_bits(quantize(hbfp(3, 4), {4.0f, 0.5f, 0.4f, -0.6f}, flat(4)), {4.0f, 0.0f, 0.0f, -1.0f}));
  // max 3.9 → e = 2, step 0.5: 3.9/0.5 = 7.8 rounds to 8 and saturates at 7.
  EXPECT_TRUE(same_bits(quantize(hbfp(3, 2), {3.9f, -3.9f}, flat(2)), {3.5f, -3.5f}));
  // HBFP6 (m = 5): max 1 → e = 1, step 2^−4; 0.53125 = 8.5 steps → 8 (tie to even).
  EXPECT_TRUE(same_bits(quantize(hbfp(5, 2), {1.0f, 0.53125f}, flat(2)), {1.0f, 0.5f}));
  // The largest fp32: e = 128, step 2^125, n saturates at 7.
  EXPECT_TRUE(same_bits(quantize(hbfp(3, 1), {FLT_MAX}, flat(1)), {std::ldexp(7.0f, 125)}));
}

TEST(FormatHbfp, BlocksAllZeroAndPartial) {
  // Blocks of 4 over a run of 10: [4, 4, 2]; the middle block is all zero; the last block is
  // padded (its padding never changes the maximum).
  const std::vector<float> x = {1.0f, 0.1f, 0.2f, 0.3f, 0.0f, -0.0f, 0.0f, 0.0f, 0.02f, -0.011f};
  const std::vector<float> y = quantize(hbfp(3, 4), x, flat(10));
  // block 0: e = 1, step 0.25; block 2: max 0.02 → e = −5, step 2^−8 = 0.00390625.
  const std::vector<float> want = {1.0f, 0.0f,  0.25f, 0.25f, 0.0f, 0.0f, 0.0f, 0.0f, 0.01953125f /*5.12 → 5*/,
                                   -0.01171875f /*−2.816 → −3*/};
  EXPECT_TRUE(same_bits(y, want));
}

TEST(FormatHbfp, ExponentBitsClamp) {
  // 2 exponent bits: e in [−2, 1]. max 10 (E = 4) uses e = 1: step 0.25, everything saturates.
  EXPECT_TRUE(same_bits(quantize(hbfp(3, 2, 2), {10.0f, -0.3f}, flat(2)), {1.75f, -0.25f}));
  // max 0.01 (E = −6) uses e = −2: step 2^−5, 0.01 → 0.32 steps → 0.
  EXPECT_TRUE(same_bits(quantize(hbfp(3, 2, 2), {0.01f, 0.02f}, flat(2)), {0.0f, 0.03125f}));
}

TEST(FormatHbfp, StepsBelowSubnormalsFlush) {
  // m = 3: a block keeps its values while step = 2^(e−3) ≥ 2^−149.
  const float a = std::ldexp(1.0f, -146), b = std::ldexp(1.0f, -147), c = std::ldexp(1.0f, -148);
  EXPECT_TRUE(same_bits(quantize(hbfp(3, 1), {a}, flat(1)), {a}));      // e = −145, step 2^−148
  EXPECT_TRUE(same_bits(quantize(hbfp(3, 1), {b}, flat(1)), {b}));      // e = −146, step 2^−149
  EXPECT_TRUE(same_bits(quantize(hbfp(3, 1), {c}, flat(1)), {0.0f}));   // e = −147: flushed
  EXPECT_TRUE(same_bits(quantize(hbfp(3, 2), {-b, c}, flat(2)), {-b, c}));     // c is 2 steps of 2^−149
  // A subnormal maximum with a normal step range: m = 3, max 2^−130 → step 2^−132, and a value
  // 2^(m−e) = 2^132 away from fp32's range is scaled in two steps.
  const float d = std::ldexp(1.0f, -130), half = std::ldexp(1.0f, -131);
  EXPECT_TRUE(same_bits(quantize(hbfp(3, 2), {d, 1.3f * half}, flat(2)), {d, std::ldexp(3.0f, -132)}));  // 2.6 steps
}

TEST(FormatHbfp, MatchesNaiveLoop) {
  for (const HbfpParams& p : {hbfp(3, 64), hbfp(5, 64), hbfp(3, 16), hbfp(7, 32), hbfp(2, 5), hbfp(3, 64, 4),
                              hbfp(12, 8), hbfp(3, 64, 8)}) {
    for (const BufferLayout& l : {flat(1000), layout(3, 100, 1), layout(2, 70, 9), layout(5, 3, 16)}) {
      const std::vector<float> x = spread_values(size_t(l.numel()), 11);
      EXPECT_TRUE(same_bits(quantize(p, x, l), reference(p, x, l.runs)))
          << "m=" << p.mantissa_bits << " B=" << p.block_size << " eb=" << p.exponent_bits << " inner=" << l.runs.inner;
    }
  }
}

TEST(FormatHbfp, Properties) {
  const HbfpParams p = hbfp(3, 64);
  const BufferLayout l = layout(4, 256, 1);
  const std::vector<float> x = spread_values(1024, 5);
  const std::vector<float> y = quantize(p, x, l);
  EXPECT_TRUE(same_bits(quantize(p, y, l), y)) << "idempotent";
  ASSERT_TRUE(sign_symmetric(y, quantize(p, negated(x), l)));
  for (size_t b = 0; b < x.size(); b += 64) {
    float mx = 0;
    for (size_t i = b; i < b + 64; ++i) mx = std::max(mx, std::fabs(x[i]));
    if (mx == 0) continue;
    int e;
    std::frexp(mx, &e);
    const float step = std::ldexp(1.0f, e - 3);
    for (size_t i = b; i < b + 64; ++i) {
      // error ≤ half a step inside the range [−7·step, 7·step]; beyond it, saturation.
      if (std::fabs(x[i]) <= 7 * step) ASSERT_LE(std::fabs(y[i] - x[i]), step / 2) << i;
      else ASSERT_EQ(std::fabs(y[i]), 7 * step) << i;
    }
    ASSERT_TRUE(monotone(x, y, b, b + 64)) << "within a block (fixed scale)";
  }
}

TEST(FormatHbfp, InPlace) {
  const std::vector<float> x = spread_values(300, 9);
  for (const BufferLayout& l : {flat(300), layout(2, 50, 3)}) {
    std::vector<float> y = x;
    hbfp_quantize(hbfp(3, 16), y.data(), y.data(), l, nearest());
    EXPECT_TRUE(same_bits(y, quantize(hbfp(3, 16), x, l)));
  }
}

TEST(FormatHbfp, StridedRunsEqualContiguousRuns) {
  // [outer, len, inner] with runs along len, versus the same data transposed to [outer, inner, len].
  const int64_t outer = 3, len = 45, inner = 7;
  const std::vector<float> x = spread_values(size_t(outer * len * inner), 21);
  const std::vector<float> xt = swap_inner_axes(x, outer, len, inner);
  const std::vector<float> y = quantize(hbfp(3, 16), x, layout(outer, len, inner));
  const std::vector<float> yt = quantize(hbfp(3, 16), xt, layout(outer * inner, len, 1));
  EXPECT_TRUE(same_bits(swap_inner_axes(yt, outer, inner, len), y));
}

TEST(FormatHbfp, EncodeDecodeRoundTrip) {
  for (const HbfpParams& p : {hbfp(3, 64), hbfp(5, 32), hbfp(9, 16), hbfp(3, 7, 5), hbfp(1, 3)}) {
    for (const BufferLayout& l : {flat(1001), layout(3, 41, 5)}) {
      for (const QuantizeOptions& o : {nearest(), stochastic()}) {
        const std::vector<float> x = spread_values(size_t(l.numel()), 3);
        const HbfpEncoded e = hbfp_encode(p, x.data(), l, o);
        EXPECT_EQ(e.mantissas.count, l.numel());
        EXPECT_EQ(int64_t(e.exponents.size()), num_blocks(p, l.runs));
        std::vector<float> y(x.size());
        hbfp_decode(p, e, y.data(), l);
        EXPECT_TRUE(same_bits(y, quantize(p, x, l, o))) << "m=" << p.mantissa_bits << " B=" << p.block_size;
      }
    }
  }
}

TEST(FormatHbfp, PackedLayout) {
  // HBFP4: 4-bit two's complement mantissas, element 2i in the low nibble; block exponent e.
  // Block 0: max 1 → e = 1, step 0.25: {1, −0.5, 0.25} → n = {4, −2, 1}; block 1: 0 → e lowest.
  const HbfpEncoded e = hbfp_encode(hbfp(3, 3), std::vector<float>{1.0f, -0.5f, 0.25f, 0, 0}.data(), flat(5), nearest());
  ASSERT_EQ(e.mantissas.bytes.size(), 3u);
  EXPECT_EQ(e.mantissas.bytes[0], 0xE4);  // −2 = 0xE high, 4 low
  EXPECT_EQ(e.mantissas.bytes[1], 0x01);
  EXPECT_EQ(e.mantissas.bytes[2], 0x00);
  ASSERT_EQ(e.exponents.size(), 2u);
  EXPECT_EQ(e.exponents[0], 1);
  EXPECT_EQ(e.exponents[1], 3 - 149);
  // HBFP6: one byte per mantissa.
  const HbfpEncoded e6 = hbfp_encode(hbfp(5, 2), std::vector<float>{-1.0f, 0.5f}.data(), flat(2), nearest());
  ASSERT_EQ(e6.mantissas.bytes.size(), 2u);
  EXPECT_EQ(e6.mantissas.bytes[0], 0x30);  // −16 in 6 bits
  EXPECT_EQ(e6.mantissas.bytes[1], 0x08);
}

TEST(FormatHbfp, BitsPerValue) {
  EXPECT_DOUBLE_EQ(bits_per_value(hbfp(3, 64)), 4 + 8.0 / 64);
  EXPECT_DOUBLE_EQ(bits_per_value(hbfp(5, 64, 10)), 6 + 10.0 / 64);
  EXPECT_DOUBLE_EQ(bits_per_value(hbfp(3, 16)), 4.5);
}

TEST(FormatHbfp, StochasticRoundingIsUnbiased) {
  // Blocks of 64: one 1.0 (step 0.25), the rest in [0.30, 0.35): 1.2..1.4 steps, which nearest
  // always rounds down (bias ≈ −0.075).
  const int64_t n = 1 << 20;
  std::vector<float> x(static_cast<size_t>(n));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(0.30f, 0.35f);
  for (int64_t i = 0; i < n; ++i) x[size_t(i)] = i % 64 == 0 ? 1.0f : u(rng);
  auto z = [&](const QuantizeOptions& o) {
    return z_score(rounding_errors(x, quantize(hbfp(3, 64), x, flat(n), o), 64));
  };
  EXPECT_LT(std::fabs(z(stochastic())), 5.0);
  EXPECT_GT(std::fabs(z(nearest())), 5.0);
}

TEST(FormatHbfp, StochasticRoundingKeysAndThreads) {
  const std::vector<float> x = spread_values(20000, 17);
  for (const BufferLayout& l : {flat(20000), layout(10, 100, 20)}) {
    const auto both = [&] { return std::pair(quantize(hbfp(3, 64), x, l, stochastic()), quantize(hbfp(3, 64), x, l)); };
    const auto [y1, n1] = with_threads(1, both);
    const auto [y2, n2] = with_threads(2, both);
    EXPECT_TRUE(same_bits(y1, y2));
    EXPECT_TRUE(same_bits(n1, n2));
    EXPECT_FALSE(same_bits(y1, quantize(hbfp(3, 64), x, l, stochastic(8)))) << "another seed, other noise";
  }
}

TEST(FormatHbfp, StochasticRoundingFollowsLogicalIndex) {
  // An NCHW tensor quantized along C (runs with stride H·W) and its channels-last copy (runs
  // contiguous, memory order N,H,W,C) draw the same random number for each logical element.
  const int64_t N = 2, C = 40, HW = 6;
  const std::vector<float> x = spread_values(size_t(N * C * HW), 4);
  const std::vector<float> xl = swap_inner_axes(x, N, C, HW);
  QuantizeOptions o = stochastic(), ol = stochastic();
  ol.rounding.order = {C, HW};
  const std::vector<float> y = quantize(hbfp(3, 16), x, layout(N, C, HW), o);
  const std::vector<float> yl = quantize(hbfp(3, 16), xl, layout(N * HW, C, 1), ol);
  EXPECT_TRUE(same_bits(swap_inner_axes(yl, N, HW, C), y));
}

TEST(FormatHbfp, NonFiniteInputNamesTheTensor) {
  for (const float bad : {NAN, INFINITY, -INFINITY}) {
    std::vector<float> x(100, 0.5f);
    x[70] = bad;
    QuantizeOptions o;
    o.name = "layer3.1.conv2/activations";
    EXPECT_TRUE(throws_naming([&] { hbfp_quantize(hbfp(3, 64), x.data(), x.data(), flat(100), o); }, o.name)) << bad;
    EXPECT_THROW(hbfp_encode(hbfp(3, 64), x.data(), flat(100), o), Error);
  }
}

TEST(FormatHbfp, RejectsBadParametersAndCodes) {
  EXPECT_THROW(validate(hbfp(0, 64)), Error);
  EXPECT_THROW(validate(hbfp(16, 64)), Error);
  EXPECT_THROW(validate(hbfp(3, 0)), Error);
  EXPECT_THROW(validate(hbfp(3, 64, 1)), Error);
  HbfpEncoded e = hbfp_encode(hbfp(3, 4), std::vector<float>(8, 1.0f).data(), flat(8), nearest());
  std::vector<float> y(8);
  EXPECT_THROW(hbfp_decode(hbfp(3, 4), e, y.data(), flat(12)), Error);  // wrong element count
  e.exponents[0] = 300;
  EXPECT_THROW(hbfp_decode(hbfp(3, 4), e, y.data(), flat(8)), Error);
}

}  // namespace
}  // namespace lpt::formats
