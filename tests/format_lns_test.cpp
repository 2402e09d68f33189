// LNS (SPEC §1.3): hand-computed codes (rounding in the log domain, underflow to zero), a naive
// loop in double, per-channel scales, properties, encode/decode, stochastic rounding (unbiased
// in the exponent) and thread-count independence.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "core/error.h"
#include "formats/lns.h"
#include "tests/support/format_kernel_testing.h"

namespace lpt::formats {
namespace {

using namespace testing;

// Channel groups along the middle axis of [outer, channels, inner].
BufferLayout channels(int64_t outer, int64_t c, int64_t inner) {
  return {RunGeometry{1, outer * c * inner, 1}, RunGeometry{outer, c, inner}, true};
}

LnsParams lns(int bits, double gamma, LnsGranularity g = LnsGranularity::tensor) {
  return {.bits = bits, .gamma = gamma, .granularity = g};
}

QuantizeOptions stochastic(uint64_t seed = 7) { return stochastic_rounding("fc/weight_gradients/backward_weight", seed, 5); }

std::vector<float> quantize(const LnsParams& p, const std::vector<float>& x, const BufferLayout& l,
                            const QuantizeOptions& o = nearest()) {
  return quantized(lns_quantize, p, x, l, o);
}
std::vector<float> quantize(const LnsParams& p, const std::vector<float>& x) { return quantized(lns_quantize, p, x); }

// SPEC §1.3 as a naive loop: scale = max|x| per group; k = RNE(−γ·log2(|x|/scale)) in double
// (stochastic: floor + 1 iff u < frac, u from the rounding key); k > kmax or x = 0 → +0;
// value = fl32(sign·scale·2^(−k/γ)) computed in double.
std::vector<float> reference(const LnsParams& p, const std::vector<float>& x, const BufferLayout& l,
                             const RoundingContext& r = {}) {
  const bool per_channel = p.granularity == LnsGranularity::channel;
  std::vector<float> scale(per_channel ? size_t(l.num_groups()) : 1, 0.0f);
  auto group = [&](size_t i) { return per_channel ? size_t(l.group_of(int64_t(i))) : 0; };
  for (size_t i = 0; i < x.size(); ++i) scale[group(i)] = std::max(scale[group(i)], std::fabs(x[i]));
  const double kmax = (1 << (p.bits - 1)) - 2;
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double s = scale[group(i)];
    if (x[i] == 0) continue;
    const double t = -p.gamma * std::log2(std::fabs(double(x[i])) / s);
    const double k = r.mode == Rounding::nearest_even ? std::nearbyint(t)
                     : std::floor(t) + (r.stream().uniform(i) < t - std::floor(t) ? 1 : 0);
    if (k > kmax) continue;
    y[i] = float((x[i] < 0 ? -1.0 : 1.0) * s * std::exp2(-k / p.gamma));
  }
  return y;
}

// Magnitudes log-uniform over 2^[-lo, 0] of a scale, signs random, a few zeros.
std::vector<float> spread_values(size_t n, double lo, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> lg(-lo, 0);
  std::bernoulli_distribution neg(0.5), zero(0.02);
  std::vector<float> x(n);
  for (float& v : x) v = zero(rng) ? 0.0f : float(3.0 * std::exp2(lg(rng))) * (neg(rng) ? -1.0f : 1.0f);
  return x;
}

TEST(FormatLns, HandComputedCodes) {
  // 8-bit, γ = 8, scale = max|x| = 1: value 2^(−k/8).
  // 0.7: t = −8·log2(0.7) = 4.117 → k = 4 → 2^−0.5. 0.6775: t = 4.494 → k = 4 as well (rounding in
  // the log domain; the linearly nearest value would be 2^−0.625 = 0.6484).
  const std::vector<float> x = {1.0f, 0.5f, -0.25f, 0.0f, 0.7f, 0.6775f, -0.0f};
  const float r = float(std::sqrt(0.5));  // fl32(2^−0.5) = 0.70710677
  EXPECT_TRUE(same_bits(quantize(lns(8, 8), x), {1.0f, 0.5f, -0.25f, 0.0f, r, r, 0.0f}));
  // Scale 4: everything scales exactly.
  EXPECT_TRUE(same_bits(quantize(lns(8, 8), {4.0f, -2.0f, 2.8f}), {4.0f, -2.0f, 4 * r}));
}

TEST(FormatLns, UnderflowFlushesToZero) {
  // kmax = 126: the smallest magnitude is scale·2^(−126/8); below half a code it becomes zero and
  // never saturates upward to the smallest magnitude.
  const float keep = std::exp2f(-126.4f / 8), drop = std::exp2f(-126.6f / 8), smallest = float(std::exp2(-126.0 / 8));
  EXPECT_TRUE(same_bits(quantize(lns(8, 8), {1.0f, keep, -drop, 1e-30f}), {1.0f, smallest, 0.0f, 0.0f}));
  // 4-bit, γ = 1: codes 0..6 (2^0 .. 2^−6), 7 is zero. 0.012: t = 6.38 → 6; 0.01: t = 6.64 → 7 → 0.
  EXPECT_TRUE(same_bits(quantize(lns(4, 1), {1.0f, 0.012f, 0.01f, 0.3f}), {1.0f, 0.015625f, 0.0f, 0.25f}));
  // 2-bit: kmax = 0, values ±scale or 0. 0.96: t = 0.47 → 0; 0.95: t = 0.59 → 1 → 0.
  EXPECT_TRUE(same_bits(quantize(lns(2, 8), {1.0f, -0.96f, 0.95f}), {1.0f, -1.0f, 0.0f}));
  // An all-zero tensor stays zero.
  EXPECT_TRUE(same_bits(quantize(lns(8, 8), {0.0f, -0.0f}), {0.0f, 0.0f}));
}

TEST(FormatLns, MatchesNaiveLoop) {
  for (const LnsParams& p : {lns(8, 8), lns(4, 1), lns(6, 4), lns(16, 128), lns(8, 2.5), lns(3, 8)}) {
    const std::vector<float> x = spread_values(3000, 24, 1);
    EXPECT_TRUE(same_bits(quantize(p, x), reference(p, x, flat(3000)))) << p.bits << " " << p.gamma;
    const LnsParams pc = lns(p.bits, p.gamma, LnsGranularity::channel);
    for (const BufferLayout& l : {channels(5, 6, 100), channels(500, 6, 1), channels(1, 30, 100)}) {
      EXPECT_TRUE(same_bits(quantize(pc, x, l), reference(pc, x, l))) << "per channel " << p.bits << " " << p.gamma;
      const QuantizeOptions o = stochastic();
      EXPECT_TRUE(same_bits(quantize(pc, x, l, o), reference(pc, x, l, o.rounding))) << "stochastic";
    }
  }
}

// Per-tensor scales so small that the last codes' magnitudes are subnormal, where the per-tensor
// table no longer repeats every γ codes halved, and scales that are no power of two.
TEST(FormatLns, MatchesNaiveLoopWithTinyAndOddScales) {
  for (const LnsParams& p : {lns(8, 8), lns(6, 4), lns(5, 1), lns(8, 16)}) {
    for (const float scale : {1e-36f, 1e-33f, 0.7f}) {
      std::vector<float> x = spread_values(1001, 18, 2);
      for (float& v : x) v *= scale;
      EXPECT_TRUE(same_bits(quantize(p, x), reference(p, x, flat(1001)))) << p.bits << " " << p.gamma << " " << scale;
    }
  }
}

// Per tensor with ≤ 8 bits, the codes and codebook give quantize()'s values bit for bit (zeros,
// underflow, negative zero, stochastic rounding), and so do the values written beside them.
TEST(FormatLns, CodebookCodesGiveTheValues) {
  for (const LnsParams& p : {lns(8, 8), lns(5, 2), lns(3, 1), lns(8, 2.5)}) {
    std::vector<float> x = spread_values(2001, 40, 3);
    x[5] = -0.0f;
    for (const QuantizeOptions& o : {nearest(), stochastic()}) {
      const std::vector<float> expected = quantize(p, x, flat(2001), o);
      std::vector<float> y(x.size());
      std::vector<uint8_t> codes(x.size());
      const std::vector<float> book = lns_quantize_codebook(p, x.data(), y.data(), codes.data(), flat(2001), o);
      ASSERT_EQ(book.size(), size_t(1) << p.bits);
      std::vector<float> decoded(x.size());
      for (size_t i = 0; i < x.size(); ++i) decoded[i] = book[codes[i]];
      EXPECT_TRUE(same_bits(y, expected)) << p.bits << " " << p.gamma;
      EXPECT_TRUE(same_bits(decoded, expected)) << p.bits << " " << p.gamma;
    }
  }
  EXPECT_TRUE(lns_has_codebook(lns(8, 8)));
  EXPECT_FALSE(lns_has_codebook(lns(9, 8)));
  EXPECT_FALSE(lns_has_codebook(lns(8, 8, LnsGranularity::channel)));
}

TEST(FormatLns, MatchesNaiveLoopNearRoundingBoundaries) {
  // Values within a few ulps of the boundaries scale·2^(−(k+0.5)/γ) between codes (and, with
  // stochastic rounding, anywhere), where the kernel's fast log2 must defer to the formula.
  for (const double gamma : {8.0, 128.0, 4096.0}) {
    const LnsParams p = lns(16, gamma);
    std::mt19937 rng(static_cast<uint32_t>(gamma));
    std::uniform_int_distribution<int> code(0, std::min(32766, int(gamma * 120))), ulps(-3, 3);  // normal floats
    std::vector<float> x = {1.0f};
    for (int i = 0; i < 20000; ++i) {
      float v = float(std::exp2(-(code(rng) + 0.5) / gamma));
      for (int u = ulps(rng); u != 0; u += u > 0 ? -1 : 1) v = std::nextafter(v, u > 0 ? 2.0f : 0.0f);
      x.push_back(i % 2 ? -v : v);
    }
    EXPECT_TRUE(same_bits(quantize(p, x), reference(p, x, flat(int64_t(x.size()))))) << "gamma " << gamma;
    const QuantizeOptions o = stochastic();
    EXPECT_TRUE(same_bits(quantize(p, x, flat(int64_t(x.size())), o), reference(p, x, flat(int64_t(x.size())), o.rounding)))
        << "stochastic, gamma " << gamma;
  }
}

// The same for the formats whose nearest rounding takes the fp32 series (integer γ, (kmax + 1) ≤
// 126·γ): per tensor and per channel, scales that are not powers of two, values a few ulps from
// every boundary, and ratios below fp32's normal range.
TEST(FormatLns, Fp32SeriesMatchesTheFormulaNearRoundingBoundaries) {
  for (const auto& [bits, gamma] : {std::pair{8, 8.0}, std::pair{10, 8.0}, std::pair{8, 2.0}, std::pair{6, 1.0}, std::pair{9, 64.0}}) {
    const LnsParams p = lns(bits, gamma);
    const int kmax = (1 << (bits - 1)) - 2;
    std::mt19937 rng(uint32_t(bits * 1000 + gamma));
    std::uniform_int_distribution<int> code(0, kmax + 2), ulps(-3, 3);
    for (const float scale : {1.0f, 3.1f}) {
      std::vector<float> x = {scale, scale * 1e-30f, -scale * 1e-39f};
      for (int i = 0; i < 20000; ++i) {
        float v = float(scale * std::exp2(-(code(rng) + 0.5) / gamma));
        for (int u = ulps(rng); u != 0; u += u > 0 ? -1 : 1) v = std::nextafter(v, u > 0 ? 2.0f * scale : 0.0f);
        x.push_back(i % 2 ? -v : v);
      }
      const BufferLayout l = flat(int64_t(x.size()));
      EXPECT_TRUE(same_bits(quantize(p, x, l), reference(p, x, l))) << bits << " bits, gamma " << gamma << ", scale " << scale;
      const LnsParams pc = lns(bits, gamma, LnsGranularity::channel);
      const BufferLayout lc = channels(1, int64_t(x.size()) / 3, 3);
      std::vector<float> xc(x.begin(), x.begin() + (x.size() / 3) * 3);
      EXPECT_TRUE(same_bits(quantize(pc, xc, lc), reference(pc, xc, lc))) << "per channel " << bits << " " << gamma;
    }
  }
}

TEST(FormatLns, PerChannelScales) {
  // Weights [3, 4] with a scale per output channel (channel axis 0): each row's maximum is exact.
  const std::vector<float> x = {2.0f, 1.0f, -1.4f, 0.5f, 0.1f, -0.05f, 0.0f, 0.07f, 0.0f, 0.0f, 0.0f, 0.0f};
  const LnsParams p = lns(8, 8, LnsGranularity::channel);
  const std::vector<float> y = quantize(p, x, channels(1, 3, 4));
  EXPECT_EQ(y[0], 2.0f);
  EXPECT_EQ(y[1], 1.0f);
  EXPECT_EQ(y[3], 0.5f);
  EXPECT_EQ(y[4], 0.1f);
  EXPECT_EQ(y[5], -0.05f);
  for (int i = 8; i < 12; ++i) EXPECT_EQ(y[size_t(i)], 0.0f);
  const LnsEncoded e = lns_encode(p, x.data(), channels(1, 3, 4), nearest());
  EXPECT_EQ(e.scales, (std::vector<float>{2.0f, 0.1f, 0.0f}));
  // Channels-last activations [N·H·W, C]: channel = innermost index.
  const std::vector<float> a = {1.0f, 8.0f, 0.5f, -4.0f, 0.25f, 2.0f};
  const LnsEncoded ea = lns_encode(p, a.data(), channels(3, 2, 1), nearest());
  EXPECT_EQ(ea.scales, (std::vector<float>{1.0f, 8.0f}));
  // A per-channel format without a channel axis is an error naming the tensor.
  QuantizeOptions o;
  o.name = "fc/weights";
  std::vector<float> out(6);
  EXPECT_TRUE(throws_naming([&] { lns_quantize(p, a.data(), out.data(), flat(6), o); }, o.name));
}

TEST(FormatLns, Properties) {
  for (const LnsParams& p : {lns(8, 8), lns(5, 2), lns(16, 128)}) {
    const std::vector<float> x = spread_values(4000, 20, 2);
    const std::vector<float> y = quantize(p, x);
    EXPECT_TRUE(same_bits(quantize(p, y), y)) << "idempotent";
    ASSERT_TRUE(sign_symmetric(y, quantize(p, negated(x))));
    ASSERT_TRUE(monotone(x, y));
    // Inside the range the error is at most half a code in the log domain.
    const double half = 0.5 / p.gamma + 1e-6;
    for (size_t i = 0; i < x.size(); ++i)
      if (y[i] != 0) {
        ASSERT_LE(std::fabs(std::log2(double(y[i]) / double(x[i]))), half) << x[i];
      }
  }
}

TEST(FormatLns, InPlace) {
  const std::vector<float> x = spread_values(20000, 20, 4);
  std::vector<float> y = x;
  lns_quantize(lns(8, 8), y.data(), y.data(), flat(20000), nearest());
  EXPECT_TRUE(same_bits(y, quantize(lns(8, 8), x)));
}

TEST(FormatLns, EncodeDecodeRoundTrip) {
  for (const LnsParams& p : {lns(8, 8), lns(4, 1), lns(16, 128), lns(6, 3)})
    for (const LnsGranularity g : {LnsGranularity::tensor, LnsGranularity::channel})
      for (const QuantizeOptions& o : {nearest(), stochastic()}) {
        const LnsParams q = lns(p.bits, p.gamma, g);
        const BufferLayout l = channels(4, 5, 51);
        const std::vector<float> x = spread_values(size_t(l.numel()), 18, 5);
        const LnsEncoded e = lns_encode(q, x.data(), l, o);
        EXPECT_EQ(e.scales.size(), g == LnsGranularity::channel ? 5u : 1u);
        std::vector<float> y(x.size());
        lns_decode(q, e, y.data(), l);
        EXPECT_TRUE(same_bits(y, quantize(q, x, l, o))) << q.bits << " " << q.gamma;
      }
}

TEST(FormatLns, PackedLayout) {
  // 8 bits: sign bit 7 + k; zero is 0x7F. −0.25 = 2^(−16/8) → 0x80 | 16.
  const LnsEncoded e8 = lns_encode(lns(8, 8), std::vector<float>{1.0f, 0.5f, -0.25f, 0.0f}.data(), flat(4), nearest());
  EXPECT_EQ(e8.codes.bytes, (std::vector<uint8_t>{0x00, 0x08, 0x90, 0x7F}));
  EXPECT_EQ(e8.scales, (std::vector<float>{1.0f}));
  EXPECT_EQ(lns_zero_code(lns(8, 8)), 0x7F);
  // 4 bits, γ = 1: codes 0x0, 0x9 (−2^−1), 0x7 (zero), 0x2; element 2i in the low nibble.
  const LnsEncoded e4 = lns_encode(lns(4, 1), std::vector<float>{1.0f, -0.5f, 0.0f, 0.25f}.data(), flat(4), nearest());
  EXPECT_EQ(e4.codes.bytes, (std::vector<uint8_t>{0x90, 0x27}));
  // 16 bits (LNS-Madam's master weights, γ = 128), little-endian: 0.5 → k = 128; zero 0x7FFF; −1 → 0x8000.
  const LnsEncoded e16 = lns_encode(lns(16, 128), std::vector<float>{0.5f, 0.0f, -1.0f}.data(), flat(3), nearest());
  EXPECT_EQ(e16.codes.bytes, (std::vector<uint8_t>{0x80, 0x00, 0xFF, 0x7F, 0x00, 0x80}));
}

TEST(FormatLns, BitsPerValue) {
  EXPECT_EQ(bits_per_value(lns(8, 8)), 8);
  EXPECT_EQ(bits_per_value(lns(16, 128)), 16);
}

TEST(FormatLns, StochasticRoundingIsUnbiasedInTheExponent) {
  // t = −8·log2(|x|) in [4.1, 4.3]: nearest always picks k = 4 (bias −0.2 codes); stochastic
  // rounding picks 4 or 5 with mean t. The tensor's scale is 1 (its first element).
  const size_t n = 1 << 20;
  std::vector<float> x(n);
  std::vector<double> t(n);
  std::mt19937 rng(4);
  std::uniform_real_distribution<double> u(4.1, 4.3);
  x[0] = 1.0f;
  for (size_t i = 1; i < n; ++i) {
    x[i] = float(std::exp2(-u(rng) / 8));
    t[i] = -8 * std::log2(double(x[i]));
  }
  auto z = [&](const QuantizeOptions& o) {
    const std::vector<float> y = quantize(lns(8, 8), x, flat(int64_t(n)), o);
    std::vector<double> err(n - 1);
    for (size_t i = 1; i < n; ++i) err[i - 1] = std::nearbyint(-8 * std::log2(double(y[i]))) - t[i];
    return z_score(err);
  };
  EXPECT_LT(std::fabs(z(stochastic())), 5.0);
  EXPECT_GT(std::fabs(z(nearest())), 5.0);
}

TEST(FormatLns, StochasticRoundingIndependentOfThreads) {
  const std::vector<float> x = spread_values(20000, 20, 6);
  for (const LnsGranularity g : {LnsGranularity::tensor, LnsGranularity::channel}) {
    const BufferLayout l = channels(50, 8, 50);
    const LnsParams p = lns(8, 8, g);
    const auto both = [&] { return std::pair(quantize(p, x, l, stochastic()), quantize(p, x, l)); };
    const auto [y1, n1] = with_threads(1, both);
    const auto [y2, n2] = with_threads(2, both);
    EXPECT_TRUE(same_bits(y1, y2));
    EXPECT_TRUE(same_bits(n1, n2));
    EXPECT_FALSE(same_bits(y1, quantize(p, x, l, stochastic(8))));
  }
}

TEST(FormatLns, ErrorsNameTheTensor) {
  std::vector<float> x(100, 0.5f);
  x[99] = NAN;
  QuantizeOptions o;
  o.name = "layer1.0.conv2/weights";
  EXPECT_TRUE(throws_naming([&] { lns_quantize(lns(8, 8), x.data(), x.data(), flat(100), o); }, o.name));
  x[99] = INFINITY;
  EXPECT_THROW(lns_encode(lns(8, 8, LnsGranularity::channel), x.data(), channels(10, 10, 1), o), Error);
  EXPECT_THROW(validate(lns(1, 8)), Error);
  EXPECT_THROW(validate(lns(17, 8)), Error);
  EXPECT_THROW(validate(lns(8, 0)), Error);
  EXPECT_THROW(validate(lns(8, NAN)), Error);
  EXPECT_THROW(validate(lns(8, 1e6)), Error);
}

}  // namespace
}  // namespace lpt::formats
