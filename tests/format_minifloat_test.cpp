// Minifloats FP8 E4M3 / E5M2, FP6 E3M2 / E2M3, FP4 E2M1 (SPEC §1.4): every code's value, hand-
// computed roundings, a brute-force nearest-value reference, per-tensor scales, properties,
// encode/decode, stochastic rounding and thread-count independence. (PyTorch 1.13 has no
// float8 types, so reference values are computed by hand and by brute force.)
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "formats/format.h"
#include "formats/minifloat.h"
#include "formats/quantize.h"
#include "tests/support/format_kernel_testing.h"

namespace lpt::formats {
namespace {

using namespace testing;

const ElementType kTypes[] = {ElementType::e4m3, ElementType::e5m2, ElementType::e3m2, ElementType::e2m3,
                              ElementType::e2m1};

MinifloatParams fp(ElementType t, MinifloatScaling s = MinifloatScaling::none, bool pow2 = false) {
  return {.element = t, .scaling = s, .pow2_scale = pow2};
}

QuantizeOptions stochastic() { return stochastic_rounding("fc/errors/backward_data", 7); }

std::vector<float> quantize(const MinifloatParams& p, const std::vector<float>& x, const QuantizeOptions& o = nearest()) {
  return quantized(minifloat_quantize, p, x, flat(int64_t(x.size())), o);
}
float quantize1(ElementType t, float x) { return quantize(fp(t), {x})[0]; }

// The OCP definition of a code's value: subnormal 0.m·2^(1−bias), normal 1.m·2^(e−bias).
double ocp_value(const ElementTraits& t, uint32_t code) {
  const uint32_t m = code & ((1u << t.mantissa_bits) - 1), e = (code >> t.mantissa_bits) & ((1u << t.exponent_bits) - 1);
  const double mag = e == 0 ? std::ldexp(double(m), 1 - t.bias - t.mantissa_bits)
                            : std::ldexp(1.0 + std::ldexp(double(m), -t.mantissa_bits), int(e) - t.bias);
  return (code >> (t.bits - 1)) & 1 ? -mag : mag;
}

// Brute force: the representable magnitude nearest to |x| (ties to the even code), saturating.
float brute_force(ElementType type, float x) {
  const ElementTraits& t = element_traits(type);
  const double ax = std::fabs(double(x));
  double best = 0;
  for (uint32_t c = 0; c < (1u << (t.bits - 1)); ++c) {
    const double v = ocp_value(t, c);
    if (v > t.max_normal) break;
    const double d = std::fabs(v - ax), db = std::fabs(best - ax);
    if (d < db || (d == db && (c & 1) == 0)) best = v;
  }
  if (ax > t.max_normal) best = t.max_normal;
  return std::copysign(float(best), x);
}

// Log-uniform magnitudes from far below the smallest subnormal to far above the largest value.
std::vector<float> spread_values(size_t n, ElementType type, uint64_t seed) {
  const ElementTraits& t = element_traits(type);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> lg(t.emin - t.mantissa_bits - 3, t.emax + 3);
  std::bernoulli_distribution neg(0.5);
  std::vector<float> x(n);
  for (float& v : x) v = float(std::exp2(lg(rng))) * (neg(rng) ? -1.0f : 1.0f);
  x[0] = 0.0f;
  x[1] = -0.0f;
  return x;
}

TEST(FormatMinifloat, TraitsAndEveryCodesValue) {
  EXPECT_EQ(element_traits(ElementType::e4m3).max_normal, 448.0f);
  EXPECT_EQ(element_traits(ElementType::e5m2).max_normal, 57344.0f);
  EXPECT_EQ(element_traits(ElementType::e3m2).max_normal, 28.0f);
  EXPECT_EQ(element_traits(ElementType::e2m3).max_normal, 7.5f);
  EXPECT_EQ(element_traits(ElementType::e2m1).max_normal, 6.0f);
  const float e2m1[] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  for (uint32_t c = 0; c < 8; ++c) {
    EXPECT_EQ(element_value(ElementType::e2m1, c), e2m1[c]);
    EXPECT_EQ(element_value(ElementType::e2m1, c | 8), -e2m1[c]);
  }
  for (const ElementType type : kTypes) {
    const ElementTraits& t = element_traits(type);
    for (uint32_t c = 0; c < (1u << t.bits); ++c) {
      const float v = element_value(type, c);
      const uint32_t mag = c & ((1u << (t.bits - 1)) - 1);
      if (type == ElementType::e4m3 && mag == 0x7F) {
        EXPECT_TRUE(std::isnan(v));
      } else if (type == ElementType::e5m2 && mag >= 0x7C) {
        EXPECT_TRUE(mag == 0x7C ? std::isinf(v) : std::isnan(v)) << c;
      } else {
        EXPECT_EQ(double(v), ocp_value(t, c)) << t.name << " code " << c;
        EXPECT_LE(std::fabs(v), t.max_normal);
        EXPECT_EQ(std::signbit(v), bool(c >> (t.bits - 1)));  // −0 has the sign bit
      }
    }
  }
}

TEST(FormatMinifloat, EveryCodeIsAFixedPointAndEncodesToItself) {
  for (const ElementType type : kTypes) {
    const ElementTraits& t = element_traits(type);
    std::vector<float> v;
    std::vector<uint32_t> codes;
    for (uint32_t c = 0; c < (1u << t.bits); ++c)
      if (std::isfinite(element_value(type, c))) v.push_back(element_value(type, c)), codes.push_back(c);
    EXPECT_TRUE(same_bits(quantize(fp(type), v), v)) << t.name;
    const MinifloatEncoded e = minifloat_encode(fp(type), v.data(), flat(int64_t(v.size())), nearest());
    EXPECT_EQ(e.scale, 1.0f);
    for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(load_code(e.codes, int64_t(i)), codes[i]) << t.name << " " << v[i];
  }
}

TEST(FormatMinifloat, HandComputedRounding) {
  using T = ElementType;
  // E4M3: step 0.125 in [1, 2); ties to even mantissa.
  EXPECT_EQ(quantize1(T::e4m3, 1.0625f), 1.0f);     // 1 (m=0) vs 1.125 (m=1)
  EXPECT_EQ(quantize1(T::e4m3, 1.1875f), 1.25f);    // 1.125 (m=1) vs 1.25 (m=2)
  EXPECT_EQ(quantize1(T::e4m3, 1.07f), 1.125f);
  EXPECT_EQ(quantize1(T::e4m3, 464.0f), 448.0f);    // tie 448/480: even, and 480 is NaN's pattern anyway
  EXPECT_EQ(quantize1(T::e4m3, 470.0f), 448.0f);    // saturates: E4M3 has no Inf
  EXPECT_EQ(quantize1(T::e4m3, -1e30f), -448.0f);
  EXPECT_EQ(quantize1(T::e4m3, FLT_MAX), 448.0f);
  EXPECT_EQ(quantize1(T::e4m3, std::ldexp(1.0f, -10)), 0.0f);                     // half the smallest subnormal
  EXPECT_EQ(quantize1(T::e4m3, std::ldexp(1.5f, -10)), std::ldexp(1.0f, -9));     // 0.75 subnormal steps → 1
  EXPECT_EQ(quantize1(T::e4m3, std::ldexp(3.0f, -10)), std::ldexp(1.0f, -8));     // 1.5 steps of 2^−9 → 2
  EXPECT_EQ(quantize1(T::e4m3, std::ldexp(7.5f, -9)), std::ldexp(1.0f, -6));      // largest subnormal 7·2^−9 vs 2^−6: even
  EXPECT_TRUE(std::signbit(quantize1(T::e4m3, -std::ldexp(1.0f, -11))));          // underflow keeps the sign
  // E5M2: max 57344 = 1.75·2^15, no rounding to Inf.
  EXPECT_EQ(quantize1(T::e5m2, 60000.0f), 57344.0f);
  EXPECT_EQ(quantize1(T::e5m2, 1.125f), 1.0f);                                    // tie 1 / 1.25
  EXPECT_EQ(quantize1(T::e5m2, 1.375f), 1.5f);                                    // tie 1.25 / 1.5
  EXPECT_EQ(quantize1(T::e5m2, std::ldexp(1.0f, -16)), std::ldexp(1.0f, -16));    // smallest subnormal
  EXPECT_EQ(quantize1(T::e5m2, std::ldexp(1.0f, -17)), 0.0f);                     // its half: tie to 0
  EXPECT_EQ(quantize1(T::e5m2, std::ldexp(1.1f, -17)), std::ldexp(1.0f, -16));
  // E3M2: max 28, subnormal step 2^−4.
  EXPECT_EQ(quantize1(T::e3m2, 30.0f), 28.0f);
  EXPECT_EQ(quantize1(T::e3m2, 26.0f), 24.0f);                                    // tie 24 / 28
  EXPECT_EQ(quantize1(T::e3m2, 0.09375f), 0.125f);                                // 1.5 subnormal steps → 2
  // E2M3: max 7.5, subnormal step 0.125.
  EXPECT_EQ(quantize1(T::e2m3, 7.7f), 7.5f);
  EXPECT_EQ(quantize1(T::e2m3, 0.1875f), 0.25f);                                  // 1.5 steps → 2
  EXPECT_EQ(quantize1(T::e2m3, 3.125f), 3.0f);                                    // tie 3 / 3.25
  // E2M1: {0, 0.5, 1, 1.5, 2, 3, 4, 6}.
  const float x[] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f, 5.1f, 7.0f, 100.0f, -0.74f, -2.6f};
  const float want[] = {0.0f, 1.0f, 1.0f, 2.0f, 2.0f, 4.0f, 4.0f, 6.0f, 6.0f, 6.0f, -0.5f, -3.0f};
  for (size_t i = 0; i < std::size(x); ++i) EXPECT_EQ(quantize1(T::e2m1, x[i]), want[i]) << x[i];
}

TEST(FormatMinifloat, MatchesBruteForceNearest) {
  for (const ElementType type : kTypes) {
    const std::vector<float> x = spread_values(20000, type, 3);
    const std::vector<float> y = quantize(fp(type), x);
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_EQ(std::bit_cast<uint32_t>(y[i]), std::bit_cast<uint32_t>(brute_force(type, x[i])))
          << element_traits(type).name << " x=" << x[i] << " got " << y[i];
  }
}

TEST(FormatMinifloat, PerTensorScale) {
  using T = ElementType;
  using S = MinifloatScaling;
  // scale = amax / max_normal: 896 / 448 = 2.
  EXPECT_EQ(minifloat_scale(fp(T::e4m3, S::tensor), 896.0f), 2.0f);
  EXPECT_EQ(minifloat_scale(fp(T::e4m3, S::tensor), 0.0f), 1.0f);
  EXPECT_EQ(minifloat_scale(fp(T::e4m3, S::none), 896.0f), 1.0f);
  EXPECT_EQ(minifloat_scale(fp(T::e4m3, S::tensor), 1.0f), 1.0f / 448.0f);
  // pow2: the smallest 2^k with amax ≤ 2^k·max_normal.
  EXPECT_EQ(minifloat_scale(fp(T::e4m3, S::tensor, true), 500.0f), 2.0f);
  EXPECT_EQ(minifloat_scale(fp(T::e4m3, S::tensor, true), 448.0f), 1.0f);
  EXPECT_EQ(minifloat_scale(fp(T::e4m3, S::tensor, true), 224.0f), 0.5f);
  EXPECT_EQ(minifloat_scale(fp(T::e4m3, S::tensor, true), 224.01f), 1.0f);
  EXPECT_EQ(minifloat_scale(fp(T::e2m1, S::tensor, true), 1e-3f), 1.0f / 4096);  // 6/4096 ≥ 1e-3 > 3/4096
  // Small gradients: E5M2 alone flushes 1e-6 (below its smallest subnormal 2^−16) to zero; the
  // per-tensor scale keeps them, and maps amax to the largest element.
  const std::vector<float> g = {1e-6f, -3e-7f, 2e-8f};
  EXPECT_TRUE(same_bits(quantize(fp(T::e5m2), g), {0.0f, -0.0f, 0.0f}));
  for (const bool pow2 : {false, true}) {
    const std::vector<float> y = quantize(fp(T::e5m2, S::tensor, pow2), g);
    const float s = minifloat_scale(fp(T::e5m2, S::tensor, pow2), 1e-6f);
    for (size_t i = 0; i < g.size(); ++i) {
      EXPECT_NE(y[i], 0.0f);
      EXPECT_EQ(y[i], quantize1(T::e5m2, g[i] / s) * s);  // value = scale · element
      EXPECT_LE(std::fabs(y[i] - g[i]), std::fabs(g[i]) * 0.125f);
    }
  }
}

// A frozen clip value (evaluation, calibration) replaces the tensor's max |x| as amax; stats
// report the amax used, which training averages.
TEST(FormatMinifloat, FrozenClipValueSetsThePerTensorScale) {
  const Format f = Format::parse_text(R"({"type":"fp8_e4m3","scale":"tensor"})");
  const Tensor x = Tensor::from_vector({3}, {1.0f, 2.0f, -4.0f});
  QuantizeStats stats;
  QuantizeOptions o;
  o.stats = &stats;
  formats::quantize(x, f, o);
  EXPECT_EQ(stats.clip, (std::vector<float>{4.0f}));
  EXPECT_EQ(stats.scale, (std::vector<float>{4.0f / 448.0f}));
  const std::vector<float> frozen{896.0f};  // scale 2
  o.fixed_clip = frozen;
  const std::vector<float> y = formats::quantize(x, f, o).to_vector();
  EXPECT_EQ(stats.clip, frozen);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(y[i], quantize1(ElementType::e4m3, x.to_vector()[i] / 2.0f) * 2.0f);
  const std::vector<float> small{3.5f};  // scale 3.5/448 = 2^−7: −4 saturates to −3.5
  o.fixed_clip = small;
  EXPECT_EQ(formats::quantize(x, f, o).to_vector(), (std::vector<float>{1.0f, 2.0f, -3.5f}));
  // Unscaled minifloats have no clip value to freeze.
  EXPECT_THROW(formats::quantize(x, Format::parse_text(R"({"type":"fp8_e4m3"})"), o), Error);
}

TEST(FormatMinifloat, ScaledMatchesBruteForce) {
  for (const ElementType type : kTypes)
    for (const bool pow2 : {false, true}) {
      const MinifloatParams p = fp(type, MinifloatScaling::tensor, pow2);
      std::vector<float> x = spread_values(5000, type, 8);
      for (float& v : x) v *= 3.7e-3f;
      float amax = 0;
      for (float v : x) amax = std::max(amax, std::fabs(v));
      const float s = minifloat_scale(p, amax);
      const std::vector<float> y = quantize(p, x);
      for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(y[i], brute_force(type, x[i] / s) * s) << x[i];
    }
}

TEST(FormatMinifloat, Properties) {
  for (const ElementType type : kTypes)
    for (const MinifloatParams& p : {fp(type), fp(type, MinifloatScaling::tensor, true), fp(type, MinifloatScaling::tensor)}) {
      std::vector<float> x = spread_values(4000, type, 5);
      const std::vector<float> y = quantize(p, x);
      if (p.scaling == MinifloatScaling::none || p.pow2_scale) {
        EXPECT_TRUE(same_bits(quantize(p, y), y)) << "idempotent";
      }
      ASSERT_TRUE(sign_symmetric(y, quantize(p, negated(x))));
      ASSERT_TRUE(monotone(x, y));
    }
}

TEST(FormatMinifloat, InPlace) {
  const std::vector<float> x = spread_values(5000, ElementType::e4m3, 2);
  std::vector<float> y = x;
  minifloat_quantize(fp(ElementType::e4m3, MinifloatScaling::tensor), y.data(), y.data(), flat(5000), nearest());
  EXPECT_TRUE(same_bits(y, quantize(fp(ElementType::e4m3, MinifloatScaling::tensor), x)));
}

TEST(FormatMinifloat, EncodeDecodeRoundTrip) {
  for (const ElementType type : kTypes)
    for (const MinifloatParams& p : {fp(type), fp(type, MinifloatScaling::tensor, true), fp(type, MinifloatScaling::tensor)})
      for (const QuantizeOptions& o : {nearest(), stochastic()}) {
        const std::vector<float> x = spread_values(10001, type, 4);
        const MinifloatEncoded e = minifloat_encode(p, x.data(), flat(10001), o);
        EXPECT_EQ(e.codes.bits, element_traits(type).bits);
        std::vector<float> y(x.size());
        minifloat_decode(p, e, y.data(), flat(10001));
        EXPECT_TRUE(same_bits(y, quantize(p, x, o))) << element_traits(type).name;
      }
}

TEST(FormatMinifloat, PackedLayout) {
  // FP4: two codes per byte, element 2i in the low nibble; 0.5 = 0x1, −6 = 0xF, 1 = 0x2.
  const MinifloatEncoded e4 = minifloat_encode(fp(ElementType::e2m1), std::vector<float>{0.5f, -6.0f, 1.0f}.data(),
                                               flat(3), nearest());
  EXPECT_EQ(e4.codes.bytes, (std::vector<uint8_t>{0xF1, 0x02}));
  // FP8 E4M3: 448 = 0.1111.110, −448 = 1.1111.110, 2^−9 = 0.0000.001, −0 = 0x80.
  const MinifloatEncoded e8 = minifloat_encode(fp(ElementType::e4m3),
                                               std::vector<float>{448.0f, -448.0f, std::ldexp(1.0f, -9), -0.0f}.data(),
                                               flat(4), nearest());
  EXPECT_EQ(e8.codes.bytes, (std::vector<uint8_t>{0x7E, 0xFE, 0x01, 0x80}));
  // FP8 E5M2: 57344 = 0.11110.11; FP6 E3M2: 28 = 0.111.11 (one byte per code).
  EXPECT_EQ(element_code(ElementType::e5m2, 57344.0f), 0x7Bu);
  EXPECT_EQ(element_code(ElementType::e3m2, -28.0f), 0x3Fu);
  EXPECT_EQ(element_code(ElementType::e2m3, 7.5f), 0x1Fu);
}

TEST(FormatMinifloat, BitsPerValue) {
  EXPECT_EQ(bits_per_value(fp(ElementType::e4m3)), 8);
  EXPECT_EQ(bits_per_value(fp(ElementType::e5m2)), 8);
  EXPECT_EQ(bits_per_value(fp(ElementType::e3m2)), 6);
  EXPECT_EQ(bits_per_value(fp(ElementType::e2m3)), 6);
  EXPECT_EQ(bits_per_value(fp(ElementType::e2m1)), 4);
}

TEST(FormatMinifloat, StochasticRoundingIsUnbiased) {
  // E4M3 in [1.01, 1.05): nearest always gives 1 (bias ≈ −0.03); the step is 0.125.
  const size_t n = 1 << 20;
  std::vector<float> x(n);
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u(1.01f, 1.05f);
  for (float& v : x) v = u(rng);
  auto z = [&](const QuantizeOptions& o) {
    return z_score(rounding_errors(x, quantize(fp(ElementType::e4m3), x, o)));
  };
  EXPECT_LT(std::fabs(z(stochastic())), 5.0);
  EXPECT_GT(std::fabs(z(nearest())), 5.0);
}

TEST(FormatMinifloat, StochasticRoundingThreadsAndSaturation) {
  const std::vector<float> x = spread_values(30000, ElementType::e2m1, 9);
  const auto sr = [&] { return quantize(fp(ElementType::e2m1), x, stochastic()); };
  const std::vector<float> y1 = with_threads(1, sr), y2 = with_threads(2, sr);
  EXPECT_TRUE(same_bits(y1, y2));
  // Stochastic rounding lands on one of the two representable neighbours of x, keeping its sign;
  // beyond the largest value it saturates.
  const float grid[] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  for (size_t i = 0; i < x.size(); ++i) {
    const float ax = std::fabs(x[i]), ay = std::fabs(y1[i]);
    ASSERT_EQ(std::signbit(y1[i]), std::signbit(x[i])) << x[i];
    if (ax >= 6.0f) {
      ASSERT_EQ(ay, 6.0f);
      continue;
    }
    const float* hi = std::upper_bound(std::begin(grid), std::end(grid), ax);
    ASSERT_TRUE(ay == hi[-1] || ay == hi[0]) << x[i] << " → " << y1[i];
  }
}

TEST(FormatMinifloat, NonFiniteInputNamesTheTensor) {
  std::vector<float> x(9000, 0.5f);
  x[8000] = NAN;
  QuantizeOptions o;
  o.name = "fc/errors";
  for (const MinifloatParams& p : {fp(ElementType::e4m3), fp(ElementType::e4m3, MinifloatScaling::tensor)}) {
    EXPECT_TRUE(throws_naming([&] { minifloat_quantize(p, x.data(), x.data(), flat(9000), o); }, o.name));
  }
  x[8000] = -INFINITY;
  EXPECT_THROW(minifloat_encode(fp(ElementType::e5m2), x.data(), flat(9000), o), Error);
  EXPECT_THROW(validate(fp(ElementType::int8)), Error);
}

}  // namespace
}  // namespace lpt::formats
