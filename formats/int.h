#pragma once
// INT — uniform integer codes with a scale per tensor, per channel or per vector, the vector
// scales optionally two-level (VS-Quant), exactly as SPEC §1.1 defines them:
//   single level: s = amax/qmax per group, q = clamp(RNE(x/s)), value = q·s (all-zero group: s = 1);
//   two-level:    γ = (amax_g/qmax)/(2^M−1) per group (1 if zero), S_v = clamp(RNE(s_v/γ), 1, 2^M−1),
//                 q = clamp(RNE(x/(S_v·γ))), value = fl32((q·S_v)·γ).
// Signed codes are narrow range [−qmax, qmax], qmax = 2^(N−1)−1; unsigned codes [0, 2^N−1].
#include <vector>

#include "formats/clipping.h"
#include "formats/code_packing.h"
#include "formats/quantize_options.h"

namespace lpt::formats {

enum class Signedness { is_signed, is_unsigned, automatic };  // automatic: unsigned for ReLU outputs
enum class IntGranularity { tensor, channel, vector };

struct IntParams {
  int bits = 8;  // N: 2..16 signed, 1..16 unsigned
  Signedness signedness = Signedness::automatic;
  IntGranularity granularity = IntGranularity::tensor;
  int vector_size = 16;                        // V (vector granularity)
  int scale_bits = 0;                          // M: 0 = fp32 per-vector scales, 1..8 = two-level
  Clipping clipping;                           // amax per group: tensor / channel granularity
  Rounding rounding = Rounding::nearest_even;  // element codes only; scales always RNE

  bool two_level() const { return granularity == IntGranularity::vector && scale_bits > 0; }
};

void validate(const IntParams& p);  // throws lpt::Error naming the bad parameter
// N + scale bits per vector / V (M, or 32 for fp32 vector scales); per-tensor and per-channel
// fp32 scales are not counted per value.
double bits_per_value(const IntParams& p);
// Whether the codes are signed once `signed: "auto"` is resolved by the input being a ReLU output.
bool int_is_signed(const IntParams& p, bool input_nonnegative);

// Codes q in memory order (N-bit two's complement when signed; `is_signed` records how
// `signed: "auto"` was resolved).
// scales: fp32 s per group (tensor, channel), s_v per vector (vector, M = 0) or γ per group
// (two-level); vector_scales: S_v per vector (two-level). Vectors are ordered [outer, vector,
// inner] of the layout's runs; an all-zero group or vector has scale 1 and zero codes.
struct IntEncoded {
  bool is_signed = true;
  PackedCodes codes;
  std::vector<float> scales;
  std::vector<uint8_t> vector_scales;
};

int64_t int_num_vectors(const IntParams& p, const RunGeometry& runs);

// x == y is allowed. Errors name o.name: NaN/Inf input, negative input to unsigned codes, a
// missing channel axis for per-channel scales, fixed clip values of the wrong count.
void int_quantize(const IntParams& p, const float* x, float* y, const BufferLayout& l, const QuantizeOptions& o);
IntEncoded int_encode(const IntParams& p, const float* x, const BufferLayout& l, const QuantizeOptions& o);
void int_decode(const IntParams& p, const IntEncoded& e, float* y, const BufferLayout& l);
// The narrowest type holding every integer the format multiplies by a group's fp32 scale (q, or
// q·S_v for two-level): s8 when |q·S_v| ≤ 127, u8 when unsigned codes q·S_v ≤ 255 (for `signed:
// "auto"` both must fit; the resolved format says which), else f32 (fp32 vector scales vary
// along the vectors, so no group scale factors out).
DType int_exact_type(const IntParams& p);

// The int8 lane's operands (SPEC §9), for a format whose int_exact_type is s8 or u8: the integer
// q·S_v of every element in q8 (two's complement for s8), and per group the fp32 scale (s, or γ
// for two-level) such that fl32(q8·scale) is bit for bit int_quantize's value, which y (may be
// null) receives as well. Stats as int_quantize gives them.
std::vector<float> int_quantize_int8(const IntParams& p, const float* x, float* y, uint8_t* q8,
                                     const BufferLayout& l, const QuantizeOptions& o);

// The int8 form of encoded codes (int_exact_type s8 / u8): q8 = q·S_v per element, and the fp32
// scale per group, as int_quantize_int8 gives them for the same data.
std::vector<float> int_decode_int8(const IntParams& p, const IntEncoded& e, uint8_t* q8, const BufferLayout& l);

// Quantizes x with every scale taken from `scales` (as int_encode produced them; its codes are
// ignored): with all scales frozen, two-level INT is idempotent.
void int_quantize_with_scales(const IntParams& p, const IntEncoded& scales, const float* x, float* y,
                              const BufferLayout& l, const QuantizeOptions& o);

}  // namespace lpt::formats
