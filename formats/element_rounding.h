#pragma once
// Rounding an fp32 into a minifloat element (shared by the minifloats and MX). Branch-free so
// that loops over elements vectorise: the step is taken from the fp32 exponent field.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace lpt::formats::detail {

// Stochastic rounding of v with uniform u in [0, 1): up iff u < frac(v) (SPEC §1). Written with
// nearbyint because GCC does not vectorise std::floor.
inline float round_stochastic_simd(float v, float u) {
  const float r = std::nearbyint(v), f = r > v ? r - 1.0f : r;  // floor(v)
  return u < v - f ? f + 1.0f : f;
}

// The element grid around v: v·up is v in units of the element's step, down = 1/up. Below the
// smallest normal (2^emin) the step stays that of the subnormals, 2^(emin−M).
struct ElementStep {
  float up, down;
};
inline ElementStep element_step(float v, int mantissa_bits, int emin) {
  const int e = std::max(int((std::bit_cast<uint32_t>(v) >> 23) & 0xff) - 127, emin);
  return {std::bit_cast<float>(uint32_t(mantissa_bits - e + 127) << 23),
          std::bit_cast<float>(uint32_t(e - mantissa_bits + 127) << 23)};
}

// Nearest-even rounding into an element format with mantissa_bits M, smallest normal exponent
// emin and largest magnitude max_normal; saturates. Exact in fp32; zero keeps v's sign.
inline float round_element(float v, int mantissa_bits, int emin, float max_normal) {
  const ElementStep s = element_step(v, mantissa_bits, emin);
  return std::clamp(std::nearbyint(v * s.up) * s.down, -max_normal, max_normal);
}

// Stochastic rounding into the same grid: up iff u < the fraction of a step (SPEC §1).
inline float round_element(float v, int mantissa_bits, int emin, float max_normal, float u) {
  const ElementStep s = element_step(v, mantissa_bits, emin);
  const float t = v * s.up;
  const float r = std::copysign(round_stochastic_simd(t, u), t);  // −0.3 → −0 or −1, as nearest would sign it
  return std::clamp(r * s.down, -max_normal, max_normal);
}

}  // namespace lpt::formats::detail
