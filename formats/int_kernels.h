#pragma once
// INT's inner loops (formats/int.cpp drives them): every element becomes
//   q = clamp(RNE(x/d), lo, hi)   (or stochastic rounding of the clamped x/d)
//   value = (q·A)·B
// with (d, A, B) = (s, 1, s) for a single-level scale and (S_v·γ, S_v, γ) for two-level VS-Quant,
// so one loop serves both and the value is exactly SPEC §1.1's fl32((q·S_v)·γ). Loops run in
// AVX-512 when the CPU has it (core/cpu.h), AVX2 otherwise; a sink decides whether values (quantize)
// or codes (encode) come out.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "formats/quantize_options.h"

namespace lpt::formats::int_kernels {

struct CodeRange {
  float lo, hi;  // [−qmax, qmax] signed, [0, 2^N − 1] unsigned
};

struct Step {
  float d, A, B, lo, hi;
};
// A group or vector whose scale is zero (all zero, clipped to 0, underflowed) keeps zeros: the
// range [0, 0] gives code 0, stored with scale 1.
inline Step zero_step() { return {1.0f, 1.0f, 1.0f, 0.0f, 0.0f}; }

// Steps per scale group (single level; A = 1), as arrays the row loops can index.
struct GroupSteps {
  std::vector<float> d, B, lo, hi;
  explicit GroupSteps(size_t n) : d(n), B(n), lo(n), hi(n) {}
  void set(size_t g, const Step& s) {
    d[g] = s.d;
    B[g] = s.B;
    lo[g] = s.lo;
    hi[g] = s.hi;
  }
};

inline float clamp_to(float v, float lo, float hi) { return std::min(std::max(v, lo), hi); }  // vmaxps, vminps

// A code's rounding; "+ 0" turns −0 into +0: integer codes have no negative zero, and decode must
// give back exactly what quantize gave.
inline float code_even(float v) { return std::nearbyint(v) + 0.0f; }
inline float code_stochastic(float v, float u) { return round_stochastic(v, u) + 0.0f; }

struct ValueSink {
  float* y;
  void put(int64_t m, float q, float A, float B) const { y[m] = (q * A) * B; }
};
struct CodeSink {
  int32_t* q;
  void put(int64_t m, float code, float, float) const { q[m] = int32_t(code); }
};
// The int8 lane's operand (SPEC §9): the integer q·A (|q·A| ≤ 255, exact in fp32) in one byte
// (two's complement when negative), whose product with the group scale B is the value.
struct Int8Sink {
  uint8_t* q;
  void put(int64_t m, float code, float A, float) const { q[m] = uint8_t(int32_t(code * A)); }
};
// Both: training needs the value for the backward GEMMs and the byte for the forward one.
struct ValueInt8Sink {
  float* y;
  uint8_t* q;
  void put(int64_t m, float code, float A, float B) const {
    const float qa = code * A;
    y[m] = qa * B;
    q[m] = uint8_t(int32_t(qa));
  }
};

// Stochastic rounding's uniform for the element at memory position m (SPEC §1 key).
class Rounder {
 public:
  explicit Rounder(const RoundingContext& r) : stream_(r.stream()), rounding_(r) {}
  float u(int64_t m) const { return stream_.uniform(rounding_.counter(m)); }

 private:
  RandomStream stream_;
  RoundingContext rounding_;
};

// Per-vector scales: single level (scale_max = 0: s_v = amax_v/qmax) or two-level with γ per
// group of `groups` (scale_max = 2^M − 1).
struct VectorScaling {
  CodeRange range;
  float qmax;
  float scale_max;
  RunGeometry groups;
  const float* gamma;
  // How far ahead (elements) the vector loop prefetches: the next vectors by default; the next
  // group when two_level_by_group scans it right after this one.
  int64_t prefetch = 512;
};

struct InputCheck {
  bool finite;
  bool has_negative;  // some x < 0 (−0 is not)
};

// One pass over the vectors of `l.runs` (size `vector_size`): each vector's max, scale and codes.
// A vector holding NaN/Inf is left unwritten and reported. vector_scales (if not null) receives
// S_v (two-level) or s_v per vector in [outer, vector, inner] order.
template <class Sink>
InputCheck vector_pass(const float* x, const Sink& sink, const BufferLayout& l, int64_t vector_size,
                       const VectorScaling& vs, const RoundingContext& r, float* vector_scales);

// Whether two_level_by_group applies: contiguous runs, and groups that are contiguous spans of
// whole runs (the channel axis before the vectors' axis in memory), more than one of them.
bool two_level_fusable(const BufferLayout& l);

// Two-level VS-Quant with γ from each group's max (no fixed clip values): each group is scanned
// and quantized while it is still in cache, one read of x instead of scan_groups' extra one. Fills
// abs_max and γ per group (as scan_groups and the γ formula would); vs.groups and vs.gamma are
// ignored.
template <class Sink>
InputCheck two_level_by_group(const float* x, const Sink& sink, const BufferLayout& l, int64_t vector_size,
                              const VectorScaling& vs, const RoundingContext& r, float* vector_scales,
                              float* abs_max, float* gamma);

// Single-level scales per group of `groups` (tensor: one group).
template <class Sink>
void groupwise_pass(const float* x, const Sink& sink, const RunGeometry& groups, const GroupSteps& steps,
                    const RoundingContext& r);

}  // namespace lpt::formats::int_kernels
