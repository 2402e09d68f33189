#include "formats/lns.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "formats/block_kernels.h"

namespace lpt::formats {
namespace {

constexpr int64_t kChunk = 2048;  // elements per parallel work item

// A code per element: k in [0, kmax], or −1 for zero.
//
// SPEC §1.3 defines k = RNE(−γ·log2(|x|/scale)) with log2 in double. The kernel evaluates
// −γ·log2 with a vectorised series instead (error below γ·3e−11, well under `margin`,
// 1e−9·(1+γ)) and redoes with std::log2 the elements whose rounding decision lies within the
// margin, so its codes are exactly those of the formula.
struct LnsTables {
  std::vector<float> scales;  // per group: max|x|
  std::vector<double> inv;    // per group: 1/scale (0 for an all-zero group)
  std::vector<float> inv32;   // per group: fl32(1/scale), for the fp32 series
  std::vector<double> pow;    // pow[k] = 2^(−k/γ), k in [0, kmax]
  std::vector<float> mag;     // per-tensor scale, kmax < 4096: mag[k] = magnitude(scales[0], k)
  // log2 γ when mag repeats every γ codes halved, mag[k] = mag[k mod γ]·2^(−⌊k/γ⌋) bit for bit (γ a
  // power of two ≤ 16, no entry subnormal: checked entry by entry), else −1. The AVX-512 kernel
  // then reads mag[k] as a permute of its first γ entries and an exponent subtract, where a gather
  // from the whole table is slow.
  int period_shift = -1;
  int kmax;
  double gamma;
  double margin;  // rounding decisions closer than this to a boundary take the exact formula
  // Nearest rounding may take the fp32 series (series_codes_f32): γ is an integer and every ratio
  // below fp32's normal range is beyond the last code ((kmax + 1) ≤ 126·γ).
  bool fp32_series;
  float margin32;  // its margin
  BufferLayout layout;
  bool per_channel;

  // fl32(scale·2^(−k/γ)) computed in double and rounded once (SPEC §1.3); the sign is exact.
  float magnitude(float scale, int k) const { return float(double(scale) * pow[size_t(k)]); }

  // The formula itself, for |x| > 0.
  template <bool Stochastic>
  int exact_code(float ax, float scale, float u) const {
    const double t = -gamma * std::log2(double(ax) / double(scale));
    double k;
    if constexpr (Stochastic) {
      k = std::floor(t);
      if (double(u) < t - k) k += 1.0;
    } else {
      k = std::nearbyint(t);
    }
    return k > kmax ? -1 : int(k);
  }
};

// log2 of a positive normal double: its exponent plus log2 of the mantissa m in
// [√½, √2) from the series (2/ln 2)·atanh(z), z = (m−1)/(m+1), |z| ≤ 0.172, through z^11
// (truncation error < 3e−11). Integer arithmetic instead of selects, so loops vectorise.
inline double log2_series(double r) {
  constexpr double c = 2.0 / std::numbers::ln2;
  constexpr uint64_t kSqrt2Mantissa = 0x6A09E667F3BCDull;  // the fraction bits of fl64(√2)
  const uint64_t bits = std::bit_cast<uint64_t>(r), fraction = bits & 0x000FFFFFFFFFFFFFull;
  const uint64_t high = fraction > kSqrt2Mantissa;  // m > √2: take m/2 and one more in the exponent
  const double m = std::bit_cast<double>(fraction | ((1023 - high) << 52));
  const double e = double(int32_t(bits >> 52) - 1023 + int32_t(high));
  const double z = (m - 1.0) / (m + 1.0), z2 = z * z;
  return e + z * (c + z2 * (c / 3 + z2 * (c / 5 + z2 * (c / 7 + z2 * (c / 9 + z2 * (c / 11))))));
}

// The same in fp32 for nearest rounding, sixteen lanes at a time, where LnsTables::fp32_series
// holds. With r = fl32(|x|·fl32(1/scale)) = e + log2(m), m in [√½, √2):
//   t = −γ·log2(r) = −γ·e − γ·log2(m), and since γ·e is an integer, RNE(t) = −γ·e + RNE(−γ·log2 m).
// Error of tf = −γ·log2(m) against −γ·log2(|x|/scale): r's two roundings move log2 by at most
// 2⁻²³/ln 2 = 1.7e−7; z = (m−1)/(m+1) one more 2⁻²³ relative (m−1 is exact), 6e−8 in log2 m; the
// polynomial's fp32 Horner steps at most 4 ulps of |log2 m| ≤ ½, 1.2e−7; the dropped z¹¹ term
// 1e−9; the product with γ half an ulp, γ·3e−8. In all |tf − t_exact| < γ·4e−7, and decisions
// within margin32 = γ·2e−6 of a boundary take the formula. A ratio below 2⁻¹²⁶ (exponent field 0)
// is beyond the last code.
inline void log2_series_f32(float r, float& e, float& log2m) {
  constexpr float c = float(2.0 / std::numbers::ln2);
  constexpr uint32_t kSqrt2Mantissa = 0x3504F3u;  // the fraction bits of fl32(√2)
  const uint32_t bits = std::bit_cast<uint32_t>(r), fraction = bits & 0x007FFFFFu;
  const uint32_t high = fraction > kSqrt2Mantissa;
  const float m = std::bit_cast<float>(fraction | ((127u - high) << 23));
  e = float(int32_t(bits >> 23) - 127 + int32_t(high));
  const float z = (m - 1.0f) / (m + 1.0f), z2 = z * z;
  log2m = z * (c + z2 * (c / 3 + z2 * (c / 5 + z2 * (c / 7 + z2 * (c / 9)))));
}

// Codes of one chunk in fp32 (nearest). Returns how many elements need the formula (redo).
int series_codes_f32(const float* x, const float* inv, int64_t n, float gamma, int kmax, float margin, int32_t* k,
                     uint8_t* redo) {
  int redo_count = 0;
#pragma omp simd reduction(+ : redo_count)
  for (int64_t i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]), r = ax * inv[i];
    float e, log2m;
    log2_series_f32(r, e, log2m);
    const float tf = -gamma * log2m, kf = std::nearbyint(tf), kd = kf - gamma * e;  // integers: exact
    const int32_t tiny = int32_t((std::bit_cast<uint32_t>(r) >> 23) == 0);  // zero or below 2^−126
    const int32_t zero = int32_t(ax == 0.0f) | tiny | int32_t(kd > float(kmax));
    const int32_t close = int32_t(0.5f - std::fabs(tf - kf) < margin) & ~tiny & int32_t(ax != 0.0f);
    k[i] = int32_t(std::min(kd, float(kmax))) | -zero;
    redo[i] = uint8_t(close);
    redo_count += close;
  }
  return redo_count;
}

// Values of one chunk with one scale for the tensor: ±mag[k], or +0 for k = −1.
void chunk_values_table(const float* x, const int32_t* k, const float* mag, int64_t n, float* y) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t keep = uint32_t(~(k[i] >> 31));
    const uint32_t sign = std::bit_cast<uint32_t>(x[i]) & 0x80000000u;
    y[i] = std::bit_cast<float>((std::bit_cast<uint32_t>(mag[k[i] & int32_t(keep)]) | sign) & keep);
  }
}

// Codes of one chunk: x, the scale's inverse per element, uniforms (stochastic). k[i] = −1 for
// zero; redo[i] = 1 where the series' decision is too close to call. (No selects on doubles:
// GCC vectorises this form. ax = 0 gives log2_series(0) = −1023, a finite value, masked.)
template <bool Stochastic>
void series_codes(const float* x, const double* inv, int64_t n, const float* u, double gamma, int kmax,
                  double margin, int32_t* k, uint8_t* redo) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const double ax = std::fabs(double(x[i]));
    const double t = -gamma * log2_series(ax * inv[i]);
    double kd;
    int32_t close;  // the decision (frac vs ½, or vs u and the floor) is within the margin
    if constexpr (Stochastic) {
      const double r = std::nearbyint(t), f = r - double(r > t), frac = t - f, ud = u[i];
      kd = f + double(ud < frac);
      close = int32_t(std::fabs(frac - ud) < margin) | int32_t(frac < margin) | int32_t(frac > 1.0 - margin);
    } else {
      kd = std::nearbyint(t);
      close = int32_t(0.5 - std::fabs(t - kd) < margin);
    }
    const int32_t zero = int32_t(ax == 0.0) | int32_t(kd > kmax);
    k[i] = int32_t(std::min(kd, double(kmax))) | -zero;
    redo[i] = uint8_t(int32_t(ax != 0.0) & close);
  }
}

// Values of one chunk from its codes: ±fl32(scale·2^(−k/γ)), or +0 for k = −1 (the zero code
// has no sign). Written with bit masks, which GCC vectorises where it does not these selects.
void chunk_values(const float* x, const float* scale, const int32_t* k, const double* pow, int64_t n, float* y) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t keep = uint32_t(~(k[i] >> 31));  // all ones for k ≥ 0, zero for k = −1
    const float m = float(double(scale[i]) * pow[k[i] & int32_t(keep)]);
    const uint32_t sign = std::bit_cast<uint32_t>(x[i]) & 0x80000000u;
    y[i] = std::bit_cast<float>((std::bit_cast<uint32_t>(m) | sign) & keep);
  }
}

#define LPT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), flatten))
template <bool Stochastic>
LPT_AVX512 void series_codes_avx512(const float* x, const double* inv, int64_t n, const float* u, double gamma,
                                    int kmax, double margin, int32_t* k, uint8_t* redo) {
  series_codes<Stochastic>(x, inv, n, u, gamma, kmax, margin, k, redo);
}
LPT_AVX512 void chunk_values_avx512(const float* x, const float* scale, const int32_t* k, const double* pow,
                                    int64_t n, float* y) {
  chunk_values(x, scale, k, pow, n, y);
}
LPT_AVX512 int series_codes_f32_avx512(const float* x, const float* inv, int64_t n, float gamma, int kmax, float margin,
                                       int32_t* k, uint8_t* redo) {
  return series_codes_f32(x, inv, n, gamma, kmax, margin, k, redo);
}
LPT_AVX512 void chunk_values_table_avx512(const float* x, const int32_t* k, const float* mag, int64_t n, float* y) {
  chunk_values_table(x, k, mag, n, y);
}
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge operand, and
// -Wmaybe-uninitialized reports at every inlined use (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic push
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// chunk_values_table for a table that repeats every 2^shift codes halved (LnsTables::period_shift):
// ±(mag[k mod γ] with ⌊k/γ⌋ taken off its exponent), +0 for k = −1.
LPT_AVX512 void chunk_values_periodic_avx512(const float* x, const int32_t* k, const float* mag, int64_t mag_size,
                                             int shift, int64_t n, float* y) {
  // The table's first γ entries (fewer when kmax + 1 < γ: only codes ≤ kmax are read).
  alignas(64) float first[16] = {};
  std::copy_n(mag, std::min<int64_t>(int64_t(1) << shift, mag_size), first);
  const __m512 table = _mm512_load_ps(first);
  const __m512i low = _mm512_set1_epi32((1 << shift) - 1), sign = _mm512_set1_epi32(int32_t(0x80000000u));
  const __m512i count = _mm512_set1_epi32(shift);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 in = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    const __m512i kv = _mm512_maskz_loadu_epi32(in, k + i);
    const __mmask16 keep = _mm512_mask_cmpge_epi32_mask(in, kv, _mm512_setzero_si512());
    const __m512i m = _mm512_castps_si512(_mm512_maskz_permutexvar_ps(keep, _mm512_and_si512(kv, low), table));
    const __m512i halvings = _mm512_slli_epi32(_mm512_srav_epi32(kv, count), 23);
    const __m512i s = _mm512_and_si512(_mm512_maskz_loadu_epi32(in, x + i), sign);
    _mm512_mask_storeu_epi32(y + i, in, _mm512_maskz_or_epi32(keep, _mm512_sub_epi32(m, halvings), s));
  }
}
#pragma GCC diagnostic pop
#undef LPT_AVX512

// Per-thread scratch for one chunk.
struct Chunk {
  std::vector<float> scale, u, inv32;
  std::vector<double> inv;
  std::vector<int32_t> k;
  std::vector<uint8_t> redo;
  Chunk() : scale(kChunk), u(kChunk), inv32(kChunk), inv(kChunk), k(kChunk), redo(kChunk) {}
};

// Calls f(c0, n, chunk) for every chunk of the tensor after filling chunk.k with its codes, in
// parallel (the codes do not depend on how the work is split).
template <class F>
void for_each_chunk(const LnsTables& t, const float* x, int64_t n, const RoundingContext& r, F f) {
  const bool stochastic = r.mode == Rounding::stochastic, avx512 = cpu_has_avx512();
  const bool fp32 = t.fp32_series && !stochastic;
  const auto codes = stochastic ? (avx512 ? series_codes_avx512<true> : series_codes<true>)
                                : (avx512 ? series_codes_avx512<false> : series_codes<false>);
  const auto codes32 = avx512 ? series_codes_f32_avx512 : series_codes_f32;
  const RunGeometry& g = t.layout.groups;
#pragma omp parallel if (n >= detail::kParallelMin)
  {
    Chunk ch;
    if (!t.per_channel) {
      std::fill(ch.scale.begin(), ch.scale.end(), t.scales[0]);
      std::fill(ch.inv.begin(), ch.inv.end(), t.inv[0]);
      std::fill(ch.inv32.begin(), ch.inv32.end(), t.inv32[0]);
    }
#pragma omp for schedule(static)
    for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
      const int64_t len = std::min(kChunk, n - c0);
      if (t.per_channel) {
        // Each element's channel (i / inner) % groups, stepped rather than divided out.
        int64_t group = t.layout.group_of(c0), rem = c0 % g.inner;
        for (int64_t i = 0; i < len; ++i) {
          ch.scale[size_t(i)] = t.scales[size_t(group)];
          ch.inv[size_t(i)] = t.inv[size_t(group)];
          ch.inv32[size_t(i)] = t.inv32[size_t(group)];
          if (++rem == g.inner) rem = 0, group = group + 1 == g.len ? 0 : group + 1;
        }
      }
      if (stochastic) detail::fill_uniforms(r, c0, 1, len, ch.u.data());
      int redo = 1;  // the double series does not count its close calls
      if (fp32)
        redo = codes32(x + c0, ch.inv32.data(), len, float(t.gamma), t.kmax, t.margin32, ch.k.data(), ch.redo.data());
      else
        codes(x + c0, ch.inv.data(), len, ch.u.data(), t.gamma, t.kmax, t.margin, ch.k.data(), ch.redo.data());
      for (int64_t i = 0; redo && i < len; ++i)
        if (ch.redo[size_t(i)]) {
          const float ax = std::fabs(x[c0 + i]), s = ch.scale[size_t(i)], u = ch.u[size_t(i)];
          ch.k[size_t(i)] = stochastic ? t.exact_code<true>(ax, s, u) : t.exact_code<false>(ax, s, u);
        }
      f(c0, len, ch);
    }
  }
}

// The tables without the scales.
LnsTables base_tables(const LnsParams& p, const BufferLayout& l) {
  LnsTables t;
  t.kmax = (1 << (p.bits - 1)) - 2;
  t.gamma = p.gamma;
  t.margin = 1e-9 * (1.0 + p.gamma);
  t.fp32_series = p.gamma == std::floor(p.gamma) && (t.kmax + 1) <= 126.0 * p.gamma;
  t.margin32 = float(2e-6 * p.gamma);
  t.layout = l;
  t.per_channel = p.granularity == LnsGranularity::channel;
  t.pow.resize(size_t(t.kmax + 1));
  for (int k = 0; k <= t.kmax; ++k) t.pow[size_t(k)] = std::exp2(-double(k) / p.gamma);
  return t;
}

void set_scales(LnsTables& t, std::vector<float> scales) {
  t.scales = std::move(scales);
  t.inv.resize(t.scales.size());
  t.inv32.resize(t.scales.size());
  for (size_t c = 0; c < t.scales.size(); ++c) {
    t.inv[c] = t.scales[c] > 0 ? 1.0 / double(t.scales[c]) : 0.0;
    t.inv32[c] = t.scales[c] > 0 ? 1.0f / t.scales[c] : 0.0f;
  }
  if (!t.per_channel && t.kmax < 4096) {  // a table per call is cheap next to the tensor only for short codes
    t.mag.resize(t.pow.size());
    for (size_t k = 0; k < t.mag.size(); ++k) t.mag[k] = t.magnitude(t.scales[0], int(k));
    const int shift = int(std::log2(t.gamma));
    bool periodic = t.gamma == double(1 << std::max(shift, 0)) && shift >= 0 && shift <= 4;
    for (size_t k = 0; periodic && k < t.mag.size(); ++k) {
      const uint32_t halved = std::bit_cast<uint32_t>(t.mag[k & ((1u << shift) - 1)]) - uint32_t((k >> shift) << 23);
      periodic = std::fpclassify(t.mag[k]) == FP_NORMAL && std::bit_cast<uint32_t>(t.mag[k]) == halved;
    }
    t.period_shift = periodic ? shift : -1;
  }
}

// The tables with the group scales (max|x| per group, over every shard with o.shards), after
// checking that x is finite.
LnsTables make_tables(const LnsParams& p, const float* x, const BufferLayout& l, const QuantizeOptions& o) {
  const std::string& tensor_name = o.name;
  LnsTables t = base_tables(p, l);
  LPT_CHECK(!t.per_channel || l.has_channel_axis, "lns: per-channel scales for tensor '", tensor_name,
            "' need a channel axis");
  const RunGeometry& g = l.groups;
  const int64_t groups = t.per_channel ? g.len : 1, n = g.numel();
  std::vector<uint32_t> max_bits(size_t(groups), 0);
  if (!t.per_channel) {
    uint32_t m = 0;
#pragma omp parallel for schedule(static) reduction(max : m) if (n >= detail::kParallelMin)
    for (int64_t c = 0; c < n; c += kChunk) m = std::max(m, detail::max_abs_bits(x + c, std::min(kChunk, n - c)));
    max_bits[0] = m;
  } else {
    // Each thread reduces its rows into its own maxima; max is exact in any order.
#pragma omp parallel if (n >= detail::kParallelMin)
    {
      std::vector<uint32_t> local(size_t(groups), 0);
#pragma omp for schedule(static)
      for (int64_t o = 0; o < g.outer; ++o) {
        const float* xo = x + o * g.len * g.inner;
        if (g.inner == 1) {
#pragma omp simd
          for (int64_t c = 0; c < g.len; ++c)
            local[size_t(c)] = std::max(local[size_t(c)], std::bit_cast<uint32_t>(xo[c]) & detail::kAbsMask);
        } else {
          for (int64_t c = 0; c < g.len; ++c)
            local[size_t(c)] = std::max(local[size_t(c)], detail::max_abs_bits(xo + c * g.inner, g.inner));
        }
      }
#pragma omp critical
      for (int64_t c = 0; c < groups; ++c) max_bits[size_t(c)] = std::max(max_bits[size_t(c)], local[size_t(c)]);
    }
  }
  std::vector<float> scales(static_cast<size_t>(groups));
  for (int64_t c = 0; c < groups; ++c) {
    if (max_bits[size_t(c)] >= detail::kNonFinite) check_finite(x, n, tensor_name);
    scales[size_t(c)] = std::bit_cast<float>(max_bits[size_t(c)]);
  }
  if (o.shards) o.shards->max(scales);
  set_scales(t, std::move(scales));
  return t;
}

}  // namespace

void validate(const LnsParams& p) {
  LPT_CHECK(p.bits >= 2 && p.bits <= 16, "lns: bits ", p.bits, " out of range, expected 2..16 (sign + code)");
  LPT_CHECK(std::isfinite(p.gamma) && p.gamma > 0.0 && p.gamma <= 65536.0, "lns: gamma ", p.gamma,
            " out of range, expected a number in (0, 65536]");
}

double bits_per_value(const LnsParams& p) { return p.bits; }

namespace {
// Quantizes x into y and calls codes(c0, n, chunk) on every chunk of codes.
template <class Codes>
void quantize_chunks(const LnsTables& t, const float* x, float* y, const QuantizeOptions& o,
                     Codes&& codes) {
  const bool avx512 = cpu_has_avx512();
  const auto values = avx512 ? chunk_values_avx512 : chunk_values;
  const auto from_table = avx512 ? chunk_values_table_avx512 : chunk_values_table;
  for_each_chunk(t, x, t.layout.numel(), o.rounding, [&](int64_t c0, int64_t n, const Chunk& ch) {
    if (t.mag.empty()) values(x + c0, ch.scale.data(), ch.k.data(), t.pow.data(), n, y + c0);
    else if (avx512 && t.period_shift >= 0)
      chunk_values_periodic_avx512(x + c0, ch.k.data(), t.mag.data(), int64_t(t.mag.size()), t.period_shift, n, y + c0);
    else from_table(x + c0, ch.k.data(), t.mag.data(), n, y + c0);
    codes(c0, n, ch);
  });
}
}  // namespace

void lns_quantize(const LnsParams& p, const float* x, float* y, const BufferLayout& l, const QuantizeOptions& o) {
  validate(p);
  quantize_chunks(make_tables(p, x, l, o), x, y, o, [](int64_t, int64_t, const Chunk&) {});
}

bool lns_has_codebook(const LnsParams& p) { return p.granularity == LnsGranularity::tensor && p.bits <= 8; }

std::vector<float> lns_quantize_codebook(const LnsParams& p, const float* x, float* y, uint8_t* codes,
                                         const BufferLayout& l, const QuantizeOptions& o) {
  validate(p);
  LPT_CHECK(lns_has_codebook(p), "tensor '", o.name, "': lns", p.bits, " per channel or with more than 8 bits has no codebook");
  const LnsTables t = make_tables(p, x, l, o);
  const int32_t sign = 1 << (p.bits - 1), zero = lns_zero_code(p);
  std::vector<float> book(size_t(1) << p.bits, 0.0f);
  for (int k = 0; k <= t.kmax; ++k) {
    book[size_t(k)] = t.magnitude(t.scales[0], k);
    book[size_t(sign | k)] = -book[size_t(k)];
  }
  quantize_chunks(t, x, y, o, [&](int64_t c0, int64_t n, const Chunk& ch) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const int32_t k = ch.k[size_t(i)];
      codes[c0 + i] = uint8_t(k < 0 ? zero : (std::bit_cast<int32_t>(x[c0 + i]) < 0 ? sign : 0) | k);
    }
  });
  return book;
}

LnsEncoded lns_encode(const LnsParams& p, const float* x, const BufferLayout& l, const QuantizeOptions& o) {
  validate(p);
  const LnsTables t = make_tables(p, x, l, o);
  std::vector<uint16_t> codes(size_t(l.numel()));
  const uint32_t sign = 1u << (p.bits - 1), zero = uint32_t(lns_zero_code(p));
  for_each_chunk(t, x, l.numel(), o.rounding, [&](int64_t c0, int64_t n, const Chunk& ch) {
    for (int64_t i = 0; i < n; ++i) {
      const int32_t k = ch.k[size_t(i)];
      codes[size_t(c0 + i)] = uint16_t(k < 0 ? zero : (x[c0 + i] < 0.0f ? sign : 0u) | uint32_t(k));
    }
  });
  return {detail::pack_codes(codes, p.bits), t.scales};
}

void lns_decode(const LnsParams& p, const LnsEncoded& codes, float* y, const BufferLayout& l) {
  validate(p);
  const PackedCodes& c = codes.codes;
  const int64_t groups = p.granularity == LnsGranularity::channel ? l.num_groups() : 1;
  detail::check_codes(c, p.bits, int64_t(codes.scales.size()), groups, l.runs, "lns");
  for (const float s : codes.scales)
    LPT_CHECK(std::isfinite(s) && s >= 0.0f, "lns decode: scale ", s, " is not a finite non-negative number");
  LnsTables t = base_tables(p, l);
  set_scales(t, codes.scales);
  const uint32_t sign = 1u << (p.bits - 1), kmask = sign - 1u;
  const int64_t n = l.numel();
#pragma omp parallel for schedule(static) if (n >= detail::kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t code = load_code(c, i), k = code & kmask;
    if (int(k) > t.kmax) {
      y[i] = 0.0f;
    } else {
      const float m = t.magnitude(t.scales[size_t(t.per_channel ? l.group_of(i) : 0)], int(k));
      y[i] = code & sign ? -m : m;
    }
  }
}

}  // namespace lpt::formats
