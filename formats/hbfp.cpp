#include "formats/hbfp.h"

#include <algorithm>
#include <cmath>

#include "formats/block_kernels.h"
#include "formats/element_rounding.h"

namespace lpt::formats {
namespace {

using detail::pow2f;

// One block's scale: x·inv_hi·inv_lo is x in units of the step (two factors, because 2^(m−e)
// can exceed fp32's largest power of two when the block maximum is tiny).
struct HbfpScale {
  float inv_hi, inv_lo, step;
  int16_t e;
};

struct HbfpOps {
  using Scale = HbfpScale;
  using Stored = int16_t;
  int m;
  bool clamp_exponent;
  // The exponent range. With fp32's range, e_lo is the lowest that does not flush; e_hi is at
  // most 128, fp32's largest E (a wider range never holds a larger block exponent).
  int e_lo, e_hi;
  float limit;     // 2^m − 1

  explicit HbfpOps(const HbfpParams& p)
      : m(p.mantissa_bits),
        clamp_exponent(p.exponent_bits > 0),
        e_lo(p.exponent_bits > 0 ? -(1 << (p.exponent_bits - 1)) : p.mantissa_bits - 149),
        e_hi(p.exponent_bits > 0 ? std::min((1 << (p.exponent_bits - 1)) - 1, 128) : 128),
        limit(float((1 << p.mantissa_bits) - 1)) {}

  // e ≤ 128 (fp32's largest E), so 2^(m−e) ≥ 2^−127 is an fp32.
  Scale make(int e) const {
    if (e - m < -149) return {0.0f, 0.0f, 0.0f, int16_t(e_lo)};  // step below fp32's subnormals: flush
    const int a = m - e, a_hi = std::min(a, 127);
    return {pow2f(a_hi), pow2f(a - a_hi), pow2f(e - m), int16_t(e)};
  }
  Scale scale(uint32_t max_bits) const {
    if (max_bits == 0) return {0.0f, 0.0f, 0.0f, int16_t(e_lo)};
    const int e = detail::exponent_of_bits(max_bits);
    return make(clamp_exponent ? std::clamp(e, e_lo, e_hi) : e);
  }
  // The int conversion turns RNE's −0 into the +0 that the integer code 0 decodes to.
  float element(float x, Scale s) const {
    const float n = std::clamp(std::nearbyint(x * s.inv_hi * s.inv_lo), -limit, limit);
    return float(int32_t(n));
  }
  float element(float x, Scale s, float u) const {
    return float(int32_t(std::clamp(detail::round_stochastic_simd(x * s.inv_hi * s.inv_lo, u), -limit, limit)));
  }
  float value(float n, Scale s) const { return n * s.step; }
  uint32_t code(float n) const { return to_twos_complement(int32_t(n), m + 1); }
  float code_value(uint32_t c) const { return float(from_twos_complement(c, m + 1)); }
  Stored stored(Scale s) const { return s.e; }
  Scale from_stored(Stored e) const { return make(e); }
};

}  // namespace

void validate(const HbfpParams& p) {
  LPT_CHECK(p.mantissa_bits >= 1 && p.mantissa_bits <= 15, "hbfp: mantissa_bits ", p.mantissa_bits,
            " out of range, expected 1..15 magnitude bits (HBFP4 is 3)");
  LPT_CHECK(p.block_size >= 1 && p.block_size <= 65536, "hbfp: block_size ", p.block_size,
            " out of range, expected 1..65536");
  LPT_CHECK(p.exponent_bits == 0 || (p.exponent_bits >= 2 && p.exponent_bits <= 12), "hbfp: exponent_bits ",
            p.exponent_bits, " out of range, expected 0 (fp32 range) or 2..12");
}

double bits_per_value(const HbfpParams& p) {
  return p.mantissa_bits + 1 + double(p.exponent_bits > 0 ? p.exponent_bits : 8) / p.block_size;
}

int64_t num_blocks(const HbfpParams& p, const RunGeometry& g) {
  return g.outer * detail::blocks_per_run(g, p.block_size) * g.inner;
}

void hbfp_quantize(const HbfpParams& p, const float* x, float* y, const BufferLayout& l, const QuantizeOptions& o) {
  validate(p);
  if (!detail::quantize_blocks(HbfpOps(p), p.block_size, x, y, l.runs, o.rounding))
    check_finite(x, l.numel(), o.name);
}

HbfpEncoded hbfp_encode(const HbfpParams& p, const float* x, const BufferLayout& l, const QuantizeOptions& o) {
  validate(p);
  std::vector<uint16_t> codes;
  HbfpEncoded out;
  if (!detail::encode_blocks(HbfpOps(p), p.block_size, x, l.runs, o.rounding, codes, out.exponents))
    check_finite(x, l.numel(), o.name);
  out.mantissas = detail::pack_codes(codes, p.mantissa_bits + 1);
  return out;
}

void hbfp_decode(const HbfpParams& p, const HbfpEncoded& codes, float* y, const BufferLayout& l) {
  validate(p);
  const HbfpOps ops(p);
  const RunGeometry& g = l.runs;
  detail::check_codes(codes.mantissas, p.mantissa_bits + 1, int64_t(codes.exponents.size()), num_blocks(p, g), g,
                      "hbfp");
  for (const int16_t e : codes.exponents)
    LPT_CHECK(e >= ops.e_lo && e <= ops.e_hi, "hbfp decode: block exponent ", e, " outside [", ops.e_lo, ", ",
              ops.e_hi, "]");
  detail::decode_blocks(ops, p.block_size, codes.mantissas, codes.exponents, y, g);
}

}  // namespace lpt::formats
