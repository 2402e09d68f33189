#include "formats/nvfp4.h"

#include <cmath>

#include "formats/block_kernels.h"
#include "formats/element_rounding.h"
#include "formats/minifloat.h"

namespace lpt::formats {
namespace {

// A block's E4M3 scale and the divisor fl32(s_b·s_t) of its elements.
struct Nvfp4Scale {
  float sb, divisor;
};

struct Nvfp4Ops {
  using Scale = Nvfp4Scale;
  using Stored = uint8_t;
  float st, six_st;  // s_t and fl32(6·s_t)

  explicit Nvfp4Ops(float tensor_scale) : st(tensor_scale), six_st(6.0f * tensor_scale) {}

  Scale make(float sb) const { return {sb, sb * st}; }
  Scale scale(uint32_t max_bits) const {
    const float e4m3 = detail::round_element(std::bit_cast<float>(max_bits) / six_st, 3, -6, 448.0f);
    return make(e4m3);
  }
  // A block whose s_b rounded to 0 is zero (x / 0 would be Inf or NaN).
  float element(float x, Scale s) const {
    const float q = detail::round_element(x / (s.divisor == 0.0f ? 1.0f : s.divisor), 1, 0, 6.0f);
    return s.divisor == 0.0f ? 0.0f : q;
  }
  float element(float x, Scale s, float u) const {
    const float q = detail::round_element(x / (s.divisor == 0.0f ? 1.0f : s.divisor), 1, 0, 6.0f, u);
    return s.divisor == 0.0f ? 0.0f : q;
  }
  float value(float q, Scale s) const { return (q * s.sb) * st; }
  uint32_t code(float q) const { return element_code(ElementType::e2m1, q); }
  float code_value(uint32_t c) const { return element_value(ElementType::e2m1, c); }
  Stored stored(Scale s) const { return uint8_t(element_code(ElementType::e4m3, s.sb)); }
  Scale from_stored(Stored b) const { return make(element_value(ElementType::e4m3, b)); }
};

// s_t of this call, reported in the stats.
float tensor_scale_of(const float* x, int64_t n, const QuantizeOptions& o) {
  const float amax = detail::tensor_amax(x, n, o, "nvfp4");
  const float st = nvfp4_tensor_scale(amax);
  if (o.stats) {
    o.stats->clip = {amax};
    o.stats->scale = {st};
  }
  return st;
}

int64_t num_blocks(const RunGeometry& g) { return g.outer * detail::blocks_per_run(g, kNvfp4Block) * g.inner; }

}  // namespace

void validate(const Nvfp4Params&) {}

double bits_per_value(const Nvfp4Params&) { return 4.0 + 8.0 / double(kNvfp4Block); }

float nvfp4_tensor_scale(float amax) {
  if (amax == 0.0f) return 1.0f;
  return std::max(amax / 2688.0f, detail::pow2f(-149));
}

void nvfp4_quantize(const Nvfp4Params&, const float* x, float* y, const BufferLayout& l, const QuantizeOptions& o) {
  const Nvfp4Ops ops(tensor_scale_of(x, l.numel(), o));
  if (!detail::quantize_blocks(ops, kNvfp4Block, x, y, l.runs, o.rounding)) check_finite(x, l.numel(), o.name);
}

Nvfp4Encoded nvfp4_encode(const Nvfp4Params&, const float* x, const BufferLayout& l, const QuantizeOptions& o) {
  Nvfp4Encoded out;
  out.tensor_scale = tensor_scale_of(x, l.numel(), o);
  std::vector<uint16_t> codes;
  if (!detail::encode_blocks(Nvfp4Ops(out.tensor_scale), kNvfp4Block, x, l.runs, o.rounding, codes, out.scales))
    check_finite(x, l.numel(), o.name);
  out.elements = detail::pack_codes(codes, 4);
  return out;
}

void nvfp4_decode(const Nvfp4Params&, const Nvfp4Encoded& codes, float* y, const BufferLayout& l) {
  const RunGeometry& g = l.runs;
  LPT_CHECK(std::isfinite(codes.tensor_scale) && codes.tensor_scale > 0.0f, "nvfp4 decode: tensor scale ",
            codes.tensor_scale, " is not a positive finite number");
  detail::check_codes(codes.elements, 4, int64_t(codes.scales.size()), num_blocks(g), g, "nvfp4");
  for (const uint8_t b : codes.scales)
    LPT_CHECK(b < 0x7F, "nvfp4 decode: E4M3 block scale byte ", int(b),
              " is not a scale this format writes (negative or NaN)");
  detail::decode_blocks(Nvfp4Ops(codes.tensor_scale), kNvfp4Block, codes.elements, codes.scales, y, g);
}

}  // namespace lpt::formats
