#include "formats/int_kernels.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "core/cpu.h"
#include "formats/block_kernels.h"

#include <immintrin.h>

namespace lpt::formats::int_kernels {
namespace {

constexpr int64_t kPiece = 1024;  // elements per batch of stochastic-rounding uniforms

// Elements m0 .. m0+n−1, one step for all; N > 0 is n known at compile time (a full vector of a
// common size: straight-line SIMD code instead of a loop with remainders).
template <bool Stochastic, int64_t N = 0, class Sink>
void apply_span(const float* x, int64_t m0, int64_t n_, Step st, const Sink& sink_ref, const RoundingContext& r) {
  // A local copy: a byte store through the int8 sinks' pointer may alias anything, including a
  // sink reached by reference, which would reload its pointer every element and keep the loop scalar.
  const Sink sink = sink_ref;
  const int64_t n = N ? N : n_;
  if constexpr (!Stochastic) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) sink.put(m0 + i, code_even(clamp_to(x[m0 + i] / st.d, st.lo, st.hi)), st.A, st.B);
  } else {
    float u[kPiece];
    for (int64_t p = 0; p < n; p += kPiece) {
      const int64_t k = std::min(kPiece, n - p);
      detail::fill_uniforms(r, m0 + p, 1, k, u);
      for (int64_t i = 0; i < k; ++i) {
        const int64_t m = m0 + p + i;
        sink.put(m, code_stochastic(clamp_to(x[m] / st.d, st.lo, st.hi), u[i]), st.A, st.B);
      }
    }
  }
}

// Elements m0 .. m0+n−1 with a step per element (arrays indexed from 0; A null: all 1).
template <bool Stochastic, class Sink>
void apply_row(const float* x, int64_t m0, int64_t n, const float* d, const float* A, const float* B, const float* lo,
               const float* hi, const Sink& sink_ref, const RoundingContext& r) {
  const Sink sink = sink_ref;  // as in apply_span
  if constexpr (!Stochastic) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i)
      sink.put(m0 + i, code_even(clamp_to(x[m0 + i] / d[i], lo[i], hi[i])), A ? A[i] : 1.0f, B[i]);
  } else {
    float u[kPiece];
    for (int64_t p = 0; p < n; p += kPiece) {
      const int64_t k = std::min(kPiece, n - p);
      detail::fill_uniforms(r, m0 + p, 1, k, u);
      for (int64_t i = p; i < p + k; ++i)
        sink.put(m0 + i, code_stochastic(clamp_to(x[m0 + i] / d[i], lo[i], hi[i]), u[i - p]), A ? A[i] : 1.0f, B[i]);
    }
  }
}

// Magnitudes as bit patterns (as in scan_groups): unsigned max reductions vectorise, |x| bits are
// >= kNonFinite exactly for Inf/NaN, and raw bits exceed kNegativeZero exactly for negative x.
constexpr uint32_t kAbsMask = 0x7fffffffu, kNonFinite = 0x7f800000u, kNegativeZero = 0x80000000u;
inline uint32_t bits_of(float v) { return std::bit_cast<uint32_t>(v); }

// The steps of a batch of vectors from their maxima, as arrays, in one vectorised loop (the
// per-vector scalar work would otherwise cost as much as the elements' own).
struct VectorSteps {
  std::vector<float> amax, gamma, d, A, B, lo, hi;
  explicit VectorSteps(int64_t n)
      : amax(size_t(n)), gamma(size_t(n)), d(size_t(n)), A(size_t(n)), B(size_t(n)), lo(size_t(n)), hi(size_t(n)) {}

  // γ of the vector whose first element sits at memory position m (two-level).
  static float gamma_at(int64_t m, const VectorScaling& vs) {
    return vs.groups.len == 1 ? vs.gamma[0] : vs.gamma[(m / vs.groups.inner) % vs.groups.len];
  }
  // Single level: s_v = amax/qmax (a zero one keeps zeros); two-level: S_v = clamp(RNE(s_v/γ)).
  void compute(int64_t n, const VectorScaling& vs) {
    const float qmax = vs.qmax, smax = vs.scale_max, rlo = vs.range.lo, rhi = vs.range.hi;
    float *pd = d.data(), *pa = A.data(), *pb = B.data(), *pl = lo.data(), *ph = hi.data();
    const float *pm = amax.data(), *pg = gamma.data();
    if (smax == 0.0f) {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const float sv = pm[i] / qmax;
        const bool zero = !(sv > 0.0f);
        pd[i] = zero ? 1.0f : sv;
        pa[i] = 1.0f;
        pb[i] = pd[i];
        pl[i] = zero ? 0.0f : rlo;
        ph[i] = zero ? 0.0f : rhi;
      }
    } else {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const float S = std::min(std::max(std::nearbyint((pm[i] / qmax) / pg[i]), 1.0f), smax);
        pd[i] = S * pg[i];
        pa[i] = S;
        pb[i] = pg[i];
        pl[i] = rlo;
        ph[i] = rhi;
      }
    }
  }
  Step step(int64_t i) const { return {d[i], A[i], B[i], lo[i], hi[i]}; }
  // What encode stores per vector: s_v (1 for a zero vector) or S_v.
  float stored(int64_t i, const VectorScaling& vs) const { return vs.scale_max == 0.0f ? B[i] : A[i]; }
};

constexpr int64_t kBatch = 64;  // contiguous vectors whose steps are computed together

// max |x| bits and max raw bits of n elements (N > 0: n known at compile time).
template <int64_t N>
inline void max_bits(const float* p, int64_t n_, uint32_t& am, uint32_t& raw) {
  const int64_t n = N ? N : n_;
  uint32_t a = 0, r = 0;
#pragma omp simd reduction(max : a, r)
  for (int64_t j = 0; j < n; ++j) {
    a = std::max(a, bits_of(p[j]) & kAbsMask);
    r = std::max(r, bits_of(p[j]));
  }
  am = a, raw = r;
}

// Vectors k in [kb, ke) of contiguous runs (inner == 1), in batches; V = FixedV when it is nonzero.
template <bool Stochastic, int64_t FixedV, class Sink>
InputCheck vectors_contiguous(const float* x, const Sink& sink, int64_t kb, int64_t ke, const RunGeometry& g, int64_t V,
                              const VectorScaling& vs, const RoundingContext& r, float* vector_scales,
                              VectorSteps& st) {
  const int64_t nb = (g.len + V - 1) / V;
  InputCheck check{true, false};
  int64_t start[kBatch], count[kBatch];
  bool skip[kBatch];
  // Vector k = (run o, vector b of the run), stepped without a division per vector. A contiguous
  // run's γ group is an axis before it, so γ changes only from one run to the next.
  int64_t o = kb / nb, b = kb % nb;
  const bool two_level = vs.scale_max != 0.0f;
  float gamma = two_level ? VectorSteps::gamma_at(o * g.len, vs) : 0.0f;
  for (int64_t k0 = kb; k0 < ke; k0 += kBatch) {
    const int64_t batch = std::min(kBatch, ke - k0);
    for (int64_t i = 0; i < batch; ++i) {
      const int64_t m0 = o * g.len + b * V, n = std::min(V, g.len - b * V);
      st.gamma[i] = gamma;
      if (++b == nb) {
        b = 0, ++o;
        if (two_level && o * g.len < g.numel()) gamma = VectorSteps::gamma_at(o * g.len, vs);
      }
      uint32_t am, raw;
      __builtin_prefetch(x + m0 + vs.prefetch);  // data ahead, while this vector's scale is worked out
      if (FixedV && n == FixedV)
        max_bits<FixedV>(x + m0, n, am, raw);
      else
        max_bits<0>(x + m0, n, am, raw);
      check.has_negative |= raw > kNegativeZero;
      check.finite &= am < kNonFinite;
      // An error: leave x (which may be y) as it is for the message.
      skip[i] = am >= kNonFinite || (raw > kNegativeZero && vs.range.lo == 0.0f);
      start[i] = m0, count[i] = n;
      st.amax[i] = skip[i] ? 0.0f : std::bit_cast<float>(am);
    }
    st.compute(batch, vs);
    for (int64_t i = 0; i < batch; ++i) {
      if (skip[i]) continue;
      if (vector_scales) vector_scales[k0 + i] = st.stored(i, vs);
      if (FixedV && count[i] == FixedV)
        apply_span<Stochastic, FixedV>(x, start[i], count[i], st.step(i), sink, r);
      else
        apply_span<Stochastic>(x, start[i], count[i], st.step(i), sink, r);
    }
  }
  return check;
}

// Blocks t = (o, b) in [tb, te) of strided runs (inner > 1): V rows of `inner` contiguous
// elements, one vector per position j.
template <bool Stochastic, class Sink>
InputCheck vectors_strided(const float* x, const Sink& sink, int64_t tb, int64_t te, const RunGeometry& g, int64_t V,
                           const VectorScaling& vs, const RoundingContext& r, float* vector_scales, VectorSteps& st,
                           std::vector<uint32_t>& am_bits) {
  const int64_t nb = (g.len + V - 1) / V, inner = g.inner;
  uint32_t* am = am_bits.data();
  float* amax = st.amax.data();
  InputCheck check{true, false};
  int64_t gamma_run = -1;  // the run st.gamma holds: γ depends on the run o and on j, never on b
  for (int64_t t = tb; t < te; ++t) {
    const int64_t o = t / nb, b = t % nb, rows = std::min(V, g.len - b * V);
    const int64_t base = (o * g.len + b * V) * inner;
    std::fill_n(am, inner, 0u);
    uint32_t raw = 0, bad = 0;
    for (int64_t i = 0; i < rows; ++i) {
      const float* row = x + base + i * inner;
#pragma omp simd reduction(max : raw)
      for (int64_t j = 0; j < inner; ++j) {
        am[j] = std::max(am[j], bits_of(row[j]) & kAbsMask);
        raw = std::max(raw, bits_of(row[j]));
      }
    }
#pragma omp simd reduction(max : bad)
    for (int64_t j = 0; j < inner; ++j) {
      bad = std::max(bad, am[j]);
      amax[j] = std::bit_cast<float>(am[j]);
    }
    check.has_negative |= raw > kNegativeZero;
    check.finite &= bad < kNonFinite;
    if (bad >= kNonFinite || (raw > kNegativeZero && vs.range.lo == 0.0f)) continue;
    if (vs.scale_max != 0.0f && o != gamma_run) {
      for (int64_t j = 0; j < inner; ++j) st.gamma[j] = VectorSteps::gamma_at(base + j, vs);
      gamma_run = o;
    }
    st.compute(inner, vs);
    if (vector_scales)
      for (int64_t j = 0; j < inner; ++j) vector_scales[t * inner + j] = st.stored(j, vs);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j0 = 0; j0 < inner; j0 += kPiece) {
        const int64_t n = std::min(kPiece, inner - j0);
        apply_row<Stochastic>(x, base + i * inner + j0, n, st.d.data() + j0, st.A.data() + j0, st.B.data() + j0,
                              st.lo.data() + j0, st.hi.data() + j0, sink, r);
      }
  }
  return check;
}

// Elements [b, e) with single-level group scales, walking spans of one group (inner > 1 or C = 1).
template <bool Stochastic, class Sink>
void groupwise_spans(const float* x, const Sink& sink, int64_t b, int64_t e, const RunGeometry& g, const GroupSteps& s,
                     const RoundingContext& r) {
  for (int64_t m = b; m < e;) {
    const int64_t span = m / g.inner, c = span % g.len, end = std::min(e, (span + 1) * g.inner);
    apply_span<Stochastic>(x, m, end - m, Step{s.d[c], 1.0f, s.B[c], s.lo[c], s.hi[c]}, sink, r);
    m = end;
  }
}

// Rows [ob, oe) of C channels each (inner == 1): a step per element of the row.
template <bool Stochastic, class Sink>
void groupwise_rows(const float* x, const Sink& sink, int64_t ob, int64_t oe, int64_t C, const GroupSteps& s,
                    const RoundingContext& r) {
  for (int64_t o = ob; o < oe; ++o)
    for (int64_t c0 = 0; c0 < C; c0 += kPiece) {
      const int64_t n = std::min(kPiece, C - c0);
      apply_row<Stochastic>(x, o * C + c0, n, s.d.data() + c0, nullptr, s.B.data() + c0, s.lo.data() + c0,
                            s.hi.data() + c0, sink, r);
    }
}

// The nearest-even loops again, compiled for AVX-512 (flatten inlines the whole loop nest).
#define LPT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), flatten))
template <int64_t FixedV, class Sink>
LPT_AVX512 InputCheck vectors_contiguous_avx512(const float* x, const Sink& sink, int64_t kb, int64_t ke,
                                                const RunGeometry& g, int64_t V, const VectorScaling& vs,
                                                const RoundingContext& r, float* vector_scales, VectorSteps& st) {
  return vectors_contiguous<false, FixedV>(x, sink, kb, ke, g, V, vs, r, vector_scales, st);
}
template <class Sink>
LPT_AVX512 InputCheck vectors_strided_avx512(const float* x, const Sink& sink, int64_t tb, int64_t te,
                                             const RunGeometry& g, int64_t V, const VectorScaling& vs,
                                             const RoundingContext& r, float* vector_scales, VectorSteps& st,
                                             std::vector<uint32_t>& am) {
  return vectors_strided<false>(x, sink, tb, te, g, V, vs, r, vector_scales, st, am);
}
template <class Sink>
LPT_AVX512 void groupwise_spans_avx512(const float* x, const Sink& sink, int64_t b, int64_t e, const RunGeometry& g,
                                       const GroupSteps& s, const RoundingContext& r) {
  groupwise_spans<false>(x, sink, b, e, g, s, r);
}
template <class Sink>
LPT_AVX512 void groupwise_rows_avx512(const float* x, const Sink& sink, int64_t ob, int64_t oe, int64_t C,
                                      const GroupSteps& s, const RoundingContext& r) {
  groupwise_rows<false>(x, sink, ob, oe, C, s, r);
}

// ---- 16-element vectors in AVX-512 registers ----------------------------------------------------
// The common case of the loops above (V = 16, nearest-even, contiguous runs of whole vectors; and
// runs of one element, where every element is a vector): one vector is one register, so the generic loop spends most of its time on a horizontal maximum per
// vector and on per-vector scalar steps. Here sixteen vectors go together: a shuffle tree leaves
// their sixteen maxima in one register (3 operations a vector instead of 8), the steps are worked
// out in one register with the same float operations VectorSteps::compute does, and each vector is
// then quantized in a few instructions. Results are bit for bit those of the generic loop, which
// still handles batches holding a non-finite value or a negative one for an unsigned range (to
// report and skip them exactly as it does) and the vectors left over.

// GCC 12's AVX-512 headers leave intrinsics' pass-through operands undefined on purpose, which its
// -Wmaybe-uninitialized reports at every inlined use (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic push
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// Vector sinks: what ValueSink, CodeSink, Int8Sink and ValueInt8Sink's put() does, 16 elements at a time.
LPT_AVX512 inline void put16(const ValueSink& s, int64_t m, __m512 q, __m512 A, __m512 B) {
  _mm512_storeu_ps(s.y + m, _mm512_mul_ps(_mm512_mul_ps(q, A), B));
}
LPT_AVX512 inline void put16(const CodeSink& s, int64_t m, __m512 q, __m512, __m512) {
  _mm512_storeu_si512(s.q + m, _mm512_cvtps_epi32(q));  // q is an integer: exact
}
LPT_AVX512 inline void put16(const Int8Sink& s, int64_t m, __m512 q, __m512 A, __m512) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(s.q + m), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(q, A))));
}
LPT_AVX512 inline void put16(const ValueInt8Sink& s, int64_t m, __m512 q, __m512 A, __m512 B) {
  const __m512 qa = _mm512_mul_ps(q, A);
  _mm512_storeu_ps(s.y + m, _mm512_mul_ps(qa, B));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(s.q + m), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(qa)));
}

// Lane-wise unsigned maxima of v[0..15], reduced so that the result's lanes hold each v[i]'s
// maximum over its 16 lanes, in the lane order kTreeOrder says (the shuffles' natural order).
LPT_AVX512 inline __m512 ps(__m512i a) { return _mm512_castsi512_ps(a); }
LPT_AVX512 inline __m512i si(__m512 a) { return _mm512_castps_si512(a); }
LPT_AVX512 inline __m512i max_tree(__m512i v[16]) {
  // 16 → 8: each register's two 256-bit halves folded, two registers per result.
  for (int i = 0; i < 8; ++i)
    v[i] = _mm512_max_epu32(si(_mm512_shuffle_f32x4(ps(v[2 * i]), ps(v[2 * i + 1]), 0x44)),
                            si(_mm512_shuffle_f32x4(ps(v[2 * i]), ps(v[2 * i + 1]), 0xEE)));
  // 8 → 4: 128-bit lanes folded; each 128-bit lane now belongs to one vector.
  for (int i = 0; i < 4; ++i)
    v[i] = _mm512_max_epu32(si(_mm512_shuffle_f32x4(ps(v[2 * i]), ps(v[2 * i + 1]), 0x88)),
                            si(_mm512_shuffle_f32x4(ps(v[2 * i]), ps(v[2 * i + 1]), 0xDD)));
  // 4 → 2 → 1: within 128-bit lanes, pairs and then single elements.
  for (int i = 0; i < 2; ++i)
    v[i] = _mm512_max_epu32(si(_mm512_shuffle_ps(ps(v[2 * i]), ps(v[2 * i + 1]), 0x44)),
                            si(_mm512_shuffle_ps(ps(v[2 * i]), ps(v[2 * i + 1]), 0xEE)));
  return _mm512_max_epu32(si(_mm512_shuffle_ps(ps(v[0]), ps(v[1]), 0x88)), si(_mm512_shuffle_ps(ps(v[0]), ps(v[1]), 0xDD)));
}

// The permutation that puts max_tree's result in vector order, found by running the tree on
// registers whose lanes all hold their vector's index.
LPT_AVX512 __m512i tree_to_vector_order() {
  __m512i v[16];
  for (int i = 0; i < 16; ++i) v[i] = _mm512_set1_epi32(i);
  alignas(64) int32_t lane_of[16], order[16];
  _mm512_store_si512(lane_of, max_tree(v));
  for (int lane = 0; lane < 16; ++lane) order[lane_of[lane]] = lane;
  return _mm512_load_si512(order);
}

// Sixteen vectors' steps, worked out as VectorSteps::compute does, from their maxima `am` (bits)
// and their γ (two-level).
struct Steps16 {
  __m512 d, A, B, lo, hi;
};
LPT_AVX512 inline Steps16 steps16(__m512i am, const float* gamma, const VectorScaling& vs) {
  const __m512 amax = _mm512_castsi512_ps(am), qmax = _mm512_set1_ps(vs.qmax), one = _mm512_set1_ps(1.0f);
  Steps16 s;
  s.lo = _mm512_set1_ps(vs.range.lo), s.hi = _mm512_set1_ps(vs.range.hi);
  if (vs.scale_max == 0.0f) {
    const __m512 sv = _mm512_div_ps(amax, qmax);
    const __mmask16 zero = _mm512_cmp_ps_mask(sv, _mm512_setzero_ps(), _CMP_NGT_UQ);
    s.d = s.B = _mm512_mask_mov_ps(sv, zero, one);
    s.A = one;
    s.lo = _mm512_maskz_mov_ps(~zero, s.lo);
    s.hi = _mm512_maskz_mov_ps(~zero, s.hi);
  } else {
    const __m512 g = _mm512_loadu_ps(gamma);
    const __m512 S = _mm512_roundscale_ps(_mm512_div_ps(_mm512_div_ps(amax, qmax), g), _MM_FROUND_TO_NEAREST_INT);
    s.A = _mm512_min_ps(_mm512_max_ps(S, one), _mm512_set1_ps(vs.scale_max));
    s.d = _mm512_mul_ps(s.A, g);
    s.B = g;
  }
  return s;
}

// Codes of 16 elements, each with its lane's step: clamp(RNE(x/d), lo, hi), −0 made +0.
LPT_AVX512 inline __m512 codes16(__m512 x, __m512 d, __m512 lo, __m512 hi) {
  const __m512 c = _mm512_min_ps(_mm512_max_ps(_mm512_div_ps(x, d), lo), hi);
  return _mm512_add_ps(_mm512_roundscale_ps(c, _MM_FROUND_TO_NEAREST_INT), _mm512_setzero_ps());
}

// Whether sixteen vectors with these maxima (bits) and this maximum of raw bits may go through the
// fast loops: finite, and not negative for an unsigned range.
LPT_AVX512 inline bool fast_ok(__m512i am, __m512i raw, const VectorScaling& vs, bool& has_negative) {
  const bool negative = _mm512_reduce_max_epu32(raw) > kNegativeZero;
  if (_mm512_cmpge_epu32_mask(am, _mm512_set1_epi32(int32_t(kNonFinite))) || (negative && vs.range.lo == 0.0f))
    return false;
  has_negative |= negative;
  return true;
}

// Vectors [kb, kb + 16) of contiguous runs of whole 16-element vectors (vector k at x + 16k),
// nearest even. Returns false, having written nothing, when a value is not finite or negative for
// an unsigned range: the generic loop then handles those vectors.
template <class Sink>
LPT_AVX512 bool vectors16_avx512(const float* x, const Sink& sink, int64_t kb, const VectorScaling& vs,
                                 float* vector_scales, bool& has_negative) {
  static const __m512i to_vector_order = tree_to_vector_order();
  const __m512i abs_mask = _mm512_set1_epi32(int32_t(kAbsMask));
  __m512i v[16], raw = _mm512_setzero_si512();
  for (int i = 0; i < 16; ++i) {
    const __m512i bits = _mm512_loadu_si512(x + (kb + i) * 16);
    raw = _mm512_max_epu32(raw, bits);
    v[i] = _mm512_and_si512(bits, abs_mask);
  }
  const __m512i am = _mm512_permutexvar_epi32(to_vector_order, max_tree(v));
  if (!fast_ok(am, raw, vs, has_negative)) return false;
  alignas(64) float g[16];
  if (vs.scale_max != 0.0f)
    for (int i = 0; i < 16; ++i) g[i] = VectorSteps::gamma_at((kb + i) * 16, vs);
  const Steps16 st = steps16(am, g, vs);
  alignas(64) float d[16], A[16], B[16], lo[16], hi[16];
  _mm512_store_ps(d, st.d), _mm512_store_ps(A, st.A), _mm512_store_ps(B, st.B), _mm512_store_ps(lo, st.lo),
      _mm512_store_ps(hi, st.hi);
  if (vector_scales) _mm512_storeu_ps(vector_scales + kb, vs.scale_max == 0.0f ? st.B : st.A);
  for (int i = 0; i < 16; ++i) {
    const int64_t m = (kb + i) * 16;
    const __m512 q = codes16(_mm512_loadu_ps(x + m), _mm512_set1_ps(d[i]), _mm512_set1_ps(lo[i]), _mm512_set1_ps(hi[i]));
    put16(sink, m, q, _mm512_set1_ps(A[i]), _mm512_set1_ps(B[i]));
  }
  return true;
}

// Vectors [kb, kb + 16) of one element each (runs of length 1, e.g. a one-channel image's vectors
// along its channels): each lane is its own vector, so no reduction at all.
template <class Sink>
LPT_AVX512 bool vectors1_avx512(const float* x, const Sink& sink, int64_t kb, const VectorScaling& vs,
                                float* vector_scales, bool& has_negative) {
  const __m512i raw = _mm512_loadu_si512(x + kb), am = _mm512_and_si512(raw, _mm512_set1_epi32(int32_t(kAbsMask)));
  if (!fast_ok(am, raw, vs, has_negative)) return false;
  alignas(64) float g[16];
  if (vs.scale_max != 0.0f)
    for (int i = 0; i < 16; ++i) g[i] = VectorSteps::gamma_at(kb + i, vs);
  const Steps16 st = steps16(am, g, vs);
  if (vector_scales) _mm512_storeu_ps(vector_scales + kb, vs.scale_max == 0.0f ? st.B : st.A);
  put16(sink, kb, codes16(_mm512_loadu_ps(x + kb), st.d, st.lo, st.hi), st.A, st.B);
  return true;
}
#pragma GCC diagnostic pop

#undef LPT_AVX512

// Work is handed out in pieces of about kWork elements, dynamically: every element's result is
// independent of which thread computes it, and a thread slowed down by another process on its
// core does not hold the others up.
constexpr int64_t kWork = int64_t{1} << 15;
int64_t pieces(int64_t n, int64_t per_piece) { return (n + per_piece - 1) / per_piece; }

// Vectors [kb, ke) of contiguous runs, through the loop compiled for the rounding mode, the ISA and
// (for the usual vector sizes) a compile-time vector length.
template <class Sink>
InputCheck dispatch_contiguous(const float* x, const Sink& sink, int64_t kb, int64_t ke, const RunGeometry& g,
                               int64_t V, const VectorScaling& vs, const RoundingContext& r, float* vector_scales,
                               VectorSteps& st) {
  const bool stochastic = r.mode == Rounding::stochastic, avx512 = cpu_has_avx512();
  InputCheck fast{true, false};
  if (avx512 && !stochastic && ((V == 16 && g.len % 16 == 0) || g.len == 1)) {
    const auto sixteen = g.len == 1 ? vectors1_avx512<Sink> : vectors16_avx512<Sink>;
    while (kb + 16 <= ke && sixteen(x, sink, kb, vs, vector_scales, fast.has_negative)) kb += 16;
    if (kb == ke) return fast;
  }
  const auto contiguous = [&]<int64_t FixedV>() {
    return stochastic ? vectors_contiguous<true, FixedV>(x, sink, kb, ke, g, V, vs, r, vector_scales, st)
           : avx512   ? vectors_contiguous_avx512<FixedV>(x, sink, kb, ke, g, V, vs, r, vector_scales, st)
                      : vectors_contiguous<false, FixedV>(x, sink, kb, ke, g, V, vs, r, vector_scales, st);
  };
  InputCheck c = V == 16 ? contiguous.template operator()<16>()
                 : V == 32 ? contiguous.template operator()<32>()
                           : contiguous.template operator()<0>();
  c.has_negative |= fast.has_negative;
  return c;
}

}  // namespace

template <class Sink>
InputCheck vector_pass(const float* x, const Sink& sink, const BufferLayout& l, int64_t V, const VectorScaling& vs,
                       const RoundingContext& r, float* vector_scales) {
  const RunGeometry& g = l.runs;
  const bool stochastic = r.mode == Rounding::stochastic, avx512 = cpu_has_avx512();
  const int64_t blocks = g.outer * ((g.len + V - 1) / V);  // (run, vector) pairs
  const int64_t per_piece = std::max<int64_t>(1, kWork / (V * g.inner));
  int bad = 0, negative = 0;
#pragma omp parallel reduction(| : bad, negative)
  {
    VectorSteps st(g.inner == 1 ? kBatch : g.inner);
    std::vector<uint32_t> am(size_t(g.inner == 1 ? 0 : g.inner));
#pragma omp for schedule(dynamic, 1)
    for (int64_t p = 0; p < pieces(blocks, per_piece); ++p) {
      const int64_t b = p * per_piece, e = std::min(blocks, b + per_piece);
      InputCheck c;
      if (g.inner == 1) {
        c = dispatch_contiguous(x, sink, b, e, g, V, vs, r, vector_scales, st);
      } else {
        c = stochastic ? vectors_strided<true>(x, sink, b, e, g, V, vs, r, vector_scales, st, am)
            : avx512   ? vectors_strided_avx512(x, sink, b, e, g, V, vs, r, vector_scales, st, am)
                       : vectors_strided<false>(x, sink, b, e, g, V, vs, r, vector_scales, st, am);
      }
      bad |= !c.finite;
      negative |= c.has_negative;
    }
  }
  return {bad == 0, negative != 0};
}

bool two_level_fusable(const BufferLayout& l) {
  return l.runs.inner == 1 && l.groups.outer == 1 && l.groups.len > 1 && l.groups.inner % l.runs.len == 0;
}

template <class Sink>
InputCheck two_level_by_group(const float* x, const Sink& sink, const BufferLayout& l, int64_t V,
                              const VectorScaling& vs, const RoundingContext& r, float* vector_scales,
                              float* abs_max, float* gamma) {
  const RunGeometry& g = l.runs;
  const int64_t G = l.groups.len, span = l.groups.inner;        // a group is elements [c·span, (c+1)·span)
  const int64_t vectors_per_group = (span / g.len) * ((g.len + V - 1) / V);
  // A vector is a cache line or less: prefetching one line per vector a group ahead brings the next
  // group (up to 32 KB, what L1 holds) in while this one is quantized, so its scan reads from cache.
  const VectorScaling with_gamma{vs.range, vs.qmax, vs.scale_max, l.groups, gamma,
                                 V <= 16 && span <= 8192 ? span : 512};
  int bad = 0, negative = 0;
#pragma omp parallel reduction(| : bad, negative)
  {
    VectorSteps st(kBatch);
    // Consecutive groups per thread: the vector loop's prefetch runs ahead into the next group.
#pragma omp for schedule(static)
    for (int64_t c = 0; c < G; ++c) {
      // γ from the group's max, as scan_groups and gammas_of compute it for the unfused path.
      uint32_t am, raw;
      max_bits<0>(x + c * span, span, am, raw);
      abs_max[c] = am < kNonFinite ? std::bit_cast<float>(am) : 0.0f;
      const float v = (abs_max[c] / vs.qmax) / vs.scale_max;
      gamma[c] = v > 0.0f ? v : 1.0f;
      const InputCheck k = dispatch_contiguous(x, sink, c * vectors_per_group, (c + 1) * vectors_per_group, g, V,
                                               with_gamma, r, vector_scales, st);
      bad |= !k.finite;
      negative |= k.has_negative;
    }
  }
  return {bad == 0, negative != 0};
}

template <class Sink>
void groupwise_pass(const float* x, const Sink& sink, const RunGeometry& g, const GroupSteps& steps,
                    const RoundingContext& r) {
  const bool stochastic = r.mode == Rounding::stochastic, avx512 = cpu_has_avx512();
  const int64_t n = g.numel();
  if (g.inner == 1 && g.len > 1) {  // rows of C channels, a scale per element of the row
    const int64_t per_piece = std::max<int64_t>(1, kWork / g.len);
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t p = 0; p < pieces(g.outer, per_piece); ++p) {
      const int64_t b = p * per_piece, e = std::min(g.outer, b + per_piece);
      if (stochastic)
        groupwise_rows<true>(x, sink, b, e, g.len, steps, r);
      else if (avx512)
        groupwise_rows_avx512(x, sink, b, e, g.len, steps, r);
      else
        groupwise_rows<false>(x, sink, b, e, g.len, steps, r);
    }
    return;
  }
  // Pieces of whole cache lines (kWork is a multiple of 16), so threads never write the same line.
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t p = 0; p < pieces(n, kWork); ++p) {
    const int64_t b = p * kWork, e = std::min(n, b + kWork);
    if (stochastic)
      groupwise_spans<true>(x, sink, b, e, g, steps, r);
    else if (avx512)
      groupwise_spans_avx512(x, sink, b, e, g, steps, r);
    else
      groupwise_spans<false>(x, sink, b, e, g, steps, r);
  }
}

#define LPT_INT_SINK(Sink)                                                                                      \
  template InputCheck vector_pass(const float*, const Sink&, const BufferLayout&, int64_t, const VectorScaling&,      \
                                  const RoundingContext&, float*);                                                    \
  template InputCheck two_level_by_group(const float*, const Sink&, const BufferLayout&, int64_t,                     \
                                         const VectorScaling&, const RoundingContext&, float*, float*, float*);       \
  template void groupwise_pass(const float*, const Sink&, const RunGeometry&, const GroupSteps&,                      \
                               const RoundingContext&);
LPT_INT_SINK(ValueSink)
LPT_INT_SINK(CodeSink)
LPT_INT_SINK(Int8Sink)
LPT_INT_SINK(ValueInt8Sink)
#undef LPT_INT_SINK

}  // namespace lpt::formats::int_kernels
