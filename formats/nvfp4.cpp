#include "formats/nvfp4.h"

#include <algorithm>
#include <bit>
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

// ---- 2-D blocks ----------------------------------------------------------------------------------
// Block t = (ot·nb + b)·inner + i covers outer indices [ot·R, ot·R + R), run positions
// [b·16, b·16 + 16) (both cut at the end: the zero padding changes no maximum) and inner index i.
struct Block2d {
  const RunGeometry& g;
  int64_t R, nb;
  Block2d(const RunGeometry& geometry, int64_t rows)
      : g(geometry), R(rows), nb(detail::blocks_per_run(geometry, kNvfp4Block)) {}
  int64_t count() const { return (g.outer + R - 1) / R * nb * g.inner; }
  // Calls f(memory position) for every element of block t.
  template <class F>
  void each(int64_t t, F f) const {
    const int64_t i = t % g.inner, b = t / g.inner % nb, ot = t / g.inner / nb;
    for (int64_t o = ot * R; o < std::min(g.outer, ot * R + R); ++o)
      for (int64_t k = b * kNvfp4Block; k < std::min(g.len, (b + 1) * kNvfp4Block); ++k) f((o * g.len + k) * g.inner + i);
  }
};

// Quantizes every 2-D block with its own s_b; `put(position, element, scale)` stores the result.
// False when x holds NaN/Inf.
template <class Put>
bool quantize_2d(const Nvfp4Ops& ops, const float* x, const RunGeometry& g, int64_t rows, const RoundingContext& r,
                 Put put) {
  const Block2d blocks(g, rows);
  const bool stochastic = r.mode == Rounding::stochastic;
  const RandomStream stream = r.stream();
  int ok = 1;
#pragma omp parallel for schedule(static) reduction(min : ok)
  for (int64_t t = 0; t < blocks.count(); ++t) {
    uint32_t m = 0;
    blocks.each(t, [&](int64_t p) { m = std::max(m, std::bit_cast<uint32_t>(x[p]) & 0x7fffffffu); });
    if (m >= detail::kNonFinite) {
      ok = 0;
      continue;
    }
    const Nvfp4Scale s = ops.scale(m);
    blocks.each(t, [&](int64_t p) {
      put(p, t, stochastic ? ops.element(x[p], s, stream.uniform(r.counter(p))) : ops.element(x[p], s), s);
    });
  }
  return ok != 0;
}

int64_t num_blocks(const BufferLayout& l) {
  return l.block_rows > 1 ? Block2d(l.runs, l.block_rows).count()
                          : l.runs.outer * detail::blocks_per_run(l.runs, kNvfp4Block) * l.runs.inner;
}

}  // namespace

void validate(const Nvfp4Params&) {}

double bits_per_value(const Nvfp4Params&) { return 4.0 + 8.0 / double(kNvfp4Block); }

float nvfp4_tensor_scale(float amax) {
  if (amax == 0.0f) return 1.0f;
  return std::max(amax / 2688.0f, detail::pow2f(-149));
}

void nvfp4_quantize(const Nvfp4Params&, const float* x, float* y, const BufferLayout& l, const QuantizeOptions& o) {
  const Nvfp4Ops ops(tensor_scale_of(x, l.numel(), o));
  const bool ok = l.block_rows > 1
                      ? quantize_2d(ops, x, l.runs, l.block_rows, o.rounding,
                                    [&](int64_t p, int64_t, float q, Nvfp4Scale s) { y[p] = ops.value(q, s); })
                      : detail::quantize_blocks(ops, kNvfp4Block, x, y, l.runs, o.rounding);
  if (!ok) check_finite(x, l.numel(), o.name);
}

Nvfp4Encoded nvfp4_encode(const Nvfp4Params&, const float* x, const BufferLayout& l, const QuantizeOptions& o) {
  Nvfp4Encoded out;
  out.tensor_scale = tensor_scale_of(x, l.numel(), o);
  const Nvfp4Ops ops(out.tensor_scale);
  std::vector<uint16_t> codes;
  bool ok;
  if (l.block_rows > 1) {
    codes.assign(size_t(l.numel()), 0);
    out.scales.assign(size_t(num_blocks(l)), 0);
    ok = quantize_2d(ops, x, l.runs, l.block_rows, o.rounding, [&](int64_t p, int64_t t, float q, Nvfp4Scale s) {
      codes[size_t(p)] = uint16_t(ops.code(q));
      out.scales[size_t(t)] = ops.stored(s);  // the same for every element of block t
    });
  } else {
    ok = detail::encode_blocks(ops, kNvfp4Block, x, l.runs, o.rounding, codes, out.scales);
  }
  if (!ok) check_finite(x, l.numel(), o.name);
  out.elements = detail::pack_codes(codes, 4);
  return out;
}

void nvfp4_decode(const Nvfp4Params&, const Nvfp4Encoded& codes, float* y, const BufferLayout& l) {
  const RunGeometry& g = l.runs;
  LPT_CHECK(std::isfinite(codes.tensor_scale) && codes.tensor_scale > 0.0f, "nvfp4 decode: tensor scale ",
            codes.tensor_scale, " is not a positive finite number");
  detail::check_codes(codes.elements, 4, int64_t(codes.scales.size()), num_blocks(l), g, "nvfp4");
  for (const uint8_t b : codes.scales)
    LPT_CHECK(b < 0x7F, "nvfp4 decode: E4M3 block scale byte ", int(b),
              " is not a scale this format writes (negative or NaN)");
  const Nvfp4Ops ops(codes.tensor_scale);
  if (l.block_rows == 1) return detail::decode_blocks(ops, kNvfp4Block, codes.elements, codes.scales, y, g);
  const Block2d blocks(g, l.block_rows);
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < blocks.count(); ++t) {
    const Nvfp4Scale s = ops.from_stored(codes.scales[size_t(t)]);
    blocks.each(t, [&](int64_t p) { y[p] = ops.value(ops.code_value(load_code(codes.elements, p)), s); });
  }
}

}  // namespace lpt::formats
