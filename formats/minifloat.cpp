#include "formats/minifloat.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "formats/block_kernels.h"
#include "formats/element_rounding.h"

namespace lpt::formats {
namespace {

using detail::pow2f;

// name, exponent bits, mantissa bits, bias, emax, emin, max normal, code bits (OCP MX v1.0)
const ElementTraits kTraits[] = {
    {"fp8e4m3", 4, 3, 7, 8, -6, 448.0f, 8},       // S.1111.111 is NaN; no Inf
    {"fp8e5m2", 5, 2, 15, 15, -14, 57344.0f, 8},  // IEEE-like; Inf/NaN never produced (saturation)
    {"fp6e3m2", 3, 2, 3, 4, -2, 28.0f, 6},
    {"fp6e2m3", 2, 3, 1, 2, 0, 7.5f, 6},
    {"fp4e2m1", 2, 1, 1, 2, 0, 6.0f, 4},
    {"int8", 0, 6, 0, 0, 0, 127.0f / 64.0f, 8},  // MXINT8: k/64, k in [−127, 127]
};

constexpr int64_t kChunk = 4096;  // elements per parallel work item

// The elements of x/scale (code values) and scale·element (fp32 values), chunk by chunk.
template <bool Stochastic>
void quantize_chunk(ElementTraits t, float scale, const float* x, float* y, int64_t n, const float* u) {
  const int mb = t.mantissa_bits, emin = t.emin;
  const float maxn = t.max_normal;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    float q;
    if constexpr (Stochastic)
      q = detail::round_element(x[i] / scale, mb, emin, maxn, u[i]);
    else
      q = detail::round_element(x[i] / scale, mb, emin, maxn);
    y[i] = q * scale;
  }
}
template <bool Stochastic>
void elements_chunk(ElementTraits t, float scale, const float* x, float* q, int64_t n, const float* u) {
  const int mb = t.mantissa_bits, emin = t.emin;
  const float maxn = t.max_normal;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (Stochastic)
      q[i] = detail::round_element(x[i] / scale, mb, emin, maxn, u[i]);
    else
      q[i] = detail::round_element(x[i] / scale, mb, emin, maxn);
  }
}
#define LPT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), flatten))
template <bool Stochastic>
LPT_AVX512 void quantize_chunk_avx512(ElementTraits t, float scale, const float* x, float* y, int64_t n,
                                      const float* u) {
  quantize_chunk<Stochastic>(t, scale, x, y, n, u);
}
template <bool Stochastic>
LPT_AVX512 void elements_chunk_avx512(ElementTraits t, float scale, const float* x, float* q, int64_t n,
                                      const float* u) {
  elements_chunk<Stochastic>(t, scale, x, q, n, u);
}
#undef LPT_AVX512

using ChunkFn = void (*)(ElementTraits, float, const float*, float*, int64_t, const float*);
ChunkFn pick(bool quantize, bool stochastic) {
  if (cpu_has_avx512()) {
    if (quantize) return stochastic ? quantize_chunk_avx512<true> : quantize_chunk_avx512<false>;
    return stochastic ? elements_chunk_avx512<true> : elements_chunk_avx512<false>;
  }
  if (quantize) return stochastic ? quantize_chunk<true> : quantize_chunk<false>;
  return stochastic ? elements_chunk<true> : elements_chunk<false>;
}

// The tensor's scale: a pass for amax when scaled (which also checks that x is finite before
// anything is written, x may be y); 1 without a pass otherwise. Stats report amax as the tensor's
// clip value.
float tensor_scale(const MinifloatParams& p, const float* x, int64_t n, const QuantizeOptions& o) {
  if (p.scaling == MinifloatScaling::none) return 1.0f;
  const float amax = detail::tensor_amax(x, n, o, "minifloat");
  const float scale = minifloat_scale(p, amax);
  if (o.stats) {
    o.stats->clip = {amax};
    o.stats->scale = {scale};
  }
  return scale;
}

// Runs fn on every chunk of x (in parallel), writing to out. A chunk holding NaN/Inf is left
// unwritten and reported by name.
void run_chunks(ChunkFn fn, const ElementTraits& t, float scale, const float* x, float* out, int64_t n,
                const RoundingContext& r, const std::string& tensor_name) {
  const bool stochastic = r.mode == Rounding::stochastic;
  int ok = 1;
#pragma omp parallel reduction(min : ok) if (n >= detail::kParallelMin)
  {
    std::vector<float> u(stochastic ? kChunk : 0);
#pragma omp for schedule(static)
    for (int64_t c = 0; c < n; c += kChunk) {
      const int64_t len = std::min(kChunk, n - c);
      if (detail::max_abs_bits(x + c, len) >= detail::kNonFinite) {  // in cache for fn's pass
        ok = 0;
        continue;
      }
      if (stochastic) detail::fill_uniforms(r, c, 1, len, u.data());
      fn(t, scale, x + c, out + c, len, u.data());
    }
  }
  if (!ok) check_finite(x, n, tensor_name);
}

}  // namespace

const ElementTraits& element_traits(ElementType t) { return kTraits[int(t)]; }

void validate(const MinifloatParams& p) {
  LPT_CHECK(p.element != ElementType::int8, "minifloat: element type int8 exists only inside MX (mxint8)");
}

double bits_per_value(const MinifloatParams& p) { return element_traits(p.element).bits; }

float minifloat_scale(const MinifloatParams& p, float amax) {
  if (p.scaling == MinifloatScaling::none || amax == 0.0f) return 1.0f;
  const float maxn = element_traits(p.element).max_normal;
  if (!p.pow2_scale) return std::max(amax / maxn, pow2f(-149));  // an underflow would divide by zero
  // The smallest 2^k with amax ≤ 2^k·max_normal (so nothing saturates), from exponents, not log2.
  int k = exponent_of(amax) - exponent_of(maxn);
  while (std::ldexp(double(maxn), k - 1) >= double(amax)) --k;
  while (std::ldexp(double(maxn), k) < double(amax)) ++k;
  return pow2f(std::max(k, -149));
}

// Codes are assembled from the fp32 fields with integer arithmetic (the element's subnormals
// are normal fp32 numbers, so nothing here touches fp32 subnormals, which are slow).
uint32_t element_code(ElementType type, float v) {
  const ElementTraits& t = element_traits(type);
  if (type == ElementType::int8) return to_twos_complement(int32_t(v * 64.0f), 8);
  const uint32_t bits = std::bit_cast<uint32_t>(v), sign = (bits >> 31) << (t.bits - 1);
  const uint32_t magnitude = bits & 0x7FFFFFFFu;
  if (magnitude == 0) return sign;
  const int e = int(magnitude >> 23) - 127;
  if (e < t.emin) return sign | uint32_t(std::fabs(v) * pow2f(t.mantissa_bits - t.emin));  // subnormal: m·2^(emin−M)
  const uint32_t mantissa = (magnitude >> (23 - t.mantissa_bits)) & ((1u << t.mantissa_bits) - 1u);
  return sign | (uint32_t(e + t.bias) << t.mantissa_bits) | mantissa;
}

float element_value(ElementType type, uint32_t code) {
  const ElementTraits& t = element_traits(type);
  if (type == ElementType::int8) return float(from_twos_complement(code, 8)) / 64.0f;
  const uint32_t magnitude = code & ((1u << (t.bits - 1)) - 1u), field = magnitude >> t.mantissa_bits;
  const uint32_t mantissa = magnitude & ((1u << t.mantissa_bits) - 1u);
  float v = field == 0 ? float(mantissa) * pow2f(t.emin - t.mantissa_bits)
                       : std::bit_cast<float>((uint32_t(int(field) - t.bias + 127) << 23) |
                                              (mantissa << (23 - t.mantissa_bits)));
  // Codes that encoding never produces keep their OCP meaning: E4M3's S.1111.111 is NaN; E5M2's
  // top exponent is Inf (mantissa 0) or NaN.
  if (type == ElementType::e4m3 && magnitude == 0x7F) v = NAN;
  if (type == ElementType::e5m2 && field == 31) v = mantissa == 0 ? INFINITY : NAN;
  return (code >> (t.bits - 1)) & 1u ? -v : v;
}

void minifloat_quantize(const MinifloatParams& p, const float* x, float* y, const BufferLayout& l,
                        const QuantizeOptions& o) {
  validate(p);
  const int64_t n = l.numel();
  const RoundingContext& r = o.rounding;
  const float scale = tensor_scale(p, x, n, o);
  run_chunks(pick(true, r.mode == Rounding::stochastic), element_traits(p.element), scale, x, y, n, r, o.name);
}

MinifloatEncoded minifloat_encode(const MinifloatParams& p, const float* x, const BufferLayout& l,
                                  const QuantizeOptions& o) {
  validate(p);
  const int64_t n = l.numel();
  const RoundingContext& r = o.rounding;
  MinifloatEncoded out;
  out.scale = tensor_scale(p, x, n, o);
  std::vector<float> q(static_cast<size_t>(n));
  run_chunks(pick(false, r.mode == Rounding::stochastic), element_traits(p.element), out.scale, x, q.data(), n, r,
             o.name);
  std::vector<uint16_t> codes(static_cast<size_t>(n));
#pragma omp parallel for schedule(static) if (n >= detail::kParallelMin)
  for (int64_t i = 0; i < n; ++i) codes[size_t(i)] = uint16_t(element_code(p.element, q[size_t(i)]));
  out.codes = detail::pack_codes(codes, element_traits(p.element).bits);
  return out;
}

void minifloat_decode(const MinifloatParams& p, const MinifloatEncoded& codes, float* y, const BufferLayout& l) {
  validate(p);
  const int bits = element_traits(p.element).bits;
  const PackedCodes& c = codes.codes;
  LPT_CHECK(c.bits == bits && c.count == l.numel() &&
                int64_t(c.bytes.size()) == (c.count * PackedCodes::container_bits(bits) + 7) / 8,
            "minifloat decode: ", c.count, " codes of ", c.bits, " bits in ", c.bytes.size(), " bytes, expected ",
            l.numel(), " codes of ", bits, " bits");
  LPT_CHECK(std::isfinite(codes.scale) && codes.scale > 0.0f, "minifloat decode: scale ", codes.scale,
            " is not a positive finite number");
#pragma omp parallel for schedule(static) if (c.count >= detail::kParallelMin)
  for (int64_t i = 0; i < c.count; ++i) y[i] = element_value(p.element, load_code(c, i)) * codes.scale;
}

}  // namespace lpt::formats
