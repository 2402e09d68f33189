#include "formats/lns.h"

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
  std::vector<double> pow;    // pow[k] = 2^(−k/γ), k in [0, kmax]
  int kmax;
  double gamma;
  double margin;  // rounding decisions closer than this to a boundary take the exact formula
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
#undef LPT_AVX512

// Per-thread scratch for one chunk.
struct Chunk {
  std::vector<float> scale, u;
  std::vector<double> inv;
  std::vector<int32_t> k;
  std::vector<uint8_t> redo;
  Chunk() : scale(kChunk), u(kChunk), inv(kChunk), k(kChunk), redo(kChunk) {}
};

// Calls f(c0, n, chunk) for every chunk of the tensor after filling chunk.k with its codes, in
// parallel (the codes do not depend on how the work is split).
template <class F>
void for_each_chunk(const LnsTables& t, const float* x, int64_t n, const RoundingContext& r, F f) {
  const bool stochastic = r.mode == Rounding::stochastic, avx512 = cpu_has_avx512();
  const auto codes = stochastic ? (avx512 ? series_codes_avx512<true> : series_codes<true>)
                                : (avx512 ? series_codes_avx512<false> : series_codes<false>);
  const RunGeometry& g = t.layout.groups;
#pragma omp parallel if (n >= detail::kParallelMin)
  {
    Chunk ch;
    if (!t.per_channel) {
      std::fill(ch.scale.begin(), ch.scale.end(), t.scales[0]);
      std::fill(ch.inv.begin(), ch.inv.end(), t.inv[0]);
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
          if (++rem == g.inner) rem = 0, group = group + 1 == g.len ? 0 : group + 1;
        }
      }
      if (stochastic) detail::fill_uniforms(r, c0, 1, len, ch.u.data());
      codes(x + c0, ch.inv.data(), len, ch.u.data(), t.gamma, t.kmax, t.margin, ch.k.data(), ch.redo.data());
      for (int64_t i = 0; i < len; ++i)
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
  t.layout = l;
  t.per_channel = p.granularity == LnsGranularity::channel;
  t.pow.resize(size_t(t.kmax + 1));
  for (int k = 0; k <= t.kmax; ++k) t.pow[size_t(k)] = std::exp2(-double(k) / p.gamma);
  return t;
}

void set_scales(LnsTables& t, std::vector<float> scales) {
  t.scales = std::move(scales);
  t.inv.resize(t.scales.size());
  for (size_t c = 0; c < t.scales.size(); ++c) t.inv[c] = t.scales[c] > 0 ? 1.0 / double(t.scales[c]) : 0.0;
}

// The tables with the group scales (max|x| per group), after checking that x is finite.
LnsTables make_tables(const LnsParams& p, const float* x, const BufferLayout& l, const std::string& tensor_name) {
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

void lns_quantize(const LnsParams& p, const float* x, float* y, const BufferLayout& l, const QuantizeOptions& o) {
  validate(p);
  const LnsTables t = make_tables(p, x, l, o.name);
  const auto values = cpu_has_avx512() ? chunk_values_avx512 : chunk_values;
  for_each_chunk(t, x, l.numel(), o.rounding, [&](int64_t c0, int64_t n, const Chunk& ch) {
    values(x + c0, ch.scale.data(), ch.k.data(), t.pow.data(), n, y + c0);
  });
}

LnsEncoded lns_encode(const LnsParams& p, const float* x, const BufferLayout& l, const QuantizeOptions& o) {
  validate(p);
  const LnsTables t = make_tables(p, x, l, o.name);
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
