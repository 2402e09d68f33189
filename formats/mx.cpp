#include "formats/mx.h"

#include <algorithm>
#include <cmath>

#include "formats/block_kernels.h"
#include "formats/element_rounding.h"

namespace lpt::formats {
namespace {

using detail::pow2f;

// A block's shared scale X = 2^E and its inverse (both fp32 for E in [−127, 127]).
struct MxScale {
  float inv, x;
  int e;
};

// What MXFP and MXINT8 share: E = E(max|x|) − 1 − emax, clamped; the E8M0 byte is E + 127.
struct MxScaling {
  using Scale = MxScale;
  using Stored = uint8_t;
  int emax;
  static Scale make(int e) { return {pow2f(-e), pow2f(e), e}; }
  Scale scale(uint32_t max_bits) const {
    if (max_bits == 0) return make(-127);
    return make(std::clamp(detail::exponent_of_bits(max_bits) - 1 - emax, -127, 127));
  }
  float value(float q, Scale s) const { return q * s.x; }
  Stored stored(Scale s) const { return uint8_t(s.e + 127); }
  Scale from_stored(Stored b) const { return make(int(b) - 127); }
};

// MXFP elements: x/X rounded into the minifloat grid, saturating.
struct MxFpOps : MxScaling {
  ElementType type;
  int mantissa_bits, emin;
  float max_normal;
  explicit MxFpOps(ElementType t)
      : MxScaling{element_traits(t).emax},
        type(t),
        mantissa_bits(element_traits(t).mantissa_bits),
        emin(element_traits(t).emin),
        max_normal(element_traits(t).max_normal) {}
  float element(float x, Scale s) const { return detail::round_element(x * s.inv, mantissa_bits, emin, max_normal); }
  float element(float x, Scale s, float u) const {
    return detail::round_element(x * s.inv, mantissa_bits, emin, max_normal, u);
  }
  uint32_t code(float q) const { return element_code(type, q); }
  float code_value(uint32_t c) const { return element_value(type, c); }
};

// MXINT8 elements: k/64 with k = clamp(RNE(64·x/X), −127, 127) (emax 0, as in microxcaling).
struct MxInt8Ops : MxScaling {
  MxInt8Ops() : MxScaling{0} {}
  // |x/X| < 2, so 64·x/X fits an int32 before the clamp; the int also turns RNE's −0 into the +0
  // that the integer code 0 decodes to.
  float element(float x, Scale s) const { return k_value(int32_t(std::nearbyint(x * s.inv * 64.0f))); }
  float element(float x, Scale s, float u) const {
    return k_value(int32_t(detail::round_stochastic_simd(x * s.inv * 64.0f, u)));
  }
  static float k_value(int32_t k) { return float(std::clamp(k, -127, 127)) * (1.0f / 64.0f); }
  uint32_t code(float q) const { return element_code(ElementType::int8, q); }
  float code_value(uint32_t c) const { return element_value(ElementType::int8, c); }
};

// Runs f with the Ops of p's element type.
template <class F>
auto with_ops(const MxParams& p, F f) {
  if (p.element == ElementType::int8) return f(MxInt8Ops());
  return f(MxFpOps(p.element));
}

}  // namespace

void validate(const MxParams& p) {
  LPT_CHECK(p.block_size >= 1 && p.block_size <= 65536, "mx: block_size ", p.block_size,
            " out of range, expected 1..65536 (OCP MX uses 32)");
}

double bits_per_value(const MxParams& p) { return element_traits(p.element).bits + 8.0 / p.block_size; }

int64_t num_blocks(const MxParams& p, const RunGeometry& g) {
  return g.outer * detail::blocks_per_run(g, p.block_size) * g.inner;
}

void mx_quantize(const MxParams& p, const float* x, float* y, const BufferLayout& l, const QuantizeOptions& o) {
  validate(p);
  const bool ok = with_ops(p, [&](const auto& ops) {
    return detail::quantize_blocks(ops, p.block_size, x, y, l.runs, o.rounding);
  });
  if (!ok) check_finite(x, l.numel(), o.name);
}

MxEncoded mx_encode(const MxParams& p, const float* x, const BufferLayout& l, const QuantizeOptions& o) {
  validate(p);
  std::vector<uint16_t> codes;
  MxEncoded out;
  const bool ok = with_ops(p, [&](const auto& ops) {
    return detail::encode_blocks(ops, p.block_size, x, l.runs, o.rounding, codes, out.scales);
  });
  if (!ok) check_finite(x, l.numel(), o.name);
  out.elements = detail::pack_codes(codes, element_traits(p.element).bits);
  return out;
}

void mx_decode(const MxParams& p, const MxEncoded& codes, float* y, const BufferLayout& l) {
  validate(p);
  const RunGeometry& g = l.runs;
  detail::check_codes(codes.elements, element_traits(p.element).bits, int64_t(codes.scales.size()),
                      num_blocks(p, g), g, "mx");
  for (const uint8_t b : codes.scales)
    LPT_CHECK(b != 0xFF, "mx decode: E8M0 scale byte 0xFF (NaN) is not a scale this format writes");
  with_ops(p, [&](const auto& ops) { detail::decode_blocks(ops, p.block_size, codes.elements, codes.scales, y, g); });
}

}  // namespace lpt::formats
