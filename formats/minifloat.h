#pragma once
// Minifloats (SPEC §1.4): FP8 E4M3 / E5M2, FP6 E3M2 / E2M3, FP4 E2M1 in their OCP bit patterns.
// Subnormals kept, round to nearest even, saturate to ±max (E4M3 has no Inf; no format here
// produces Inf or NaN). Zero keeps its sign. Optional per-tensor scale: value = scale·element.
#include "formats/code_packing.h"
#include "formats/quantize_options.h"

namespace lpt::formats {

enum class ElementType { e4m3, e5m2, e3m2, e2m3, e2m1, int8 };  // int8: MXINT8's k/64 elements

struct ElementTraits {
  const char* name;     // "fp8e4m3", ...
  int exponent_bits;    // 0 for int8
  int mantissa_bits;    // fraction bits (int8: 6 fraction bits of k/64)
  int bias;
  int emax;             // exponent of the largest normal (MX's emax)
  int emin;             // exponent of the smallest normal, 1 − bias
  float max_normal;     // largest magnitude
  int bits;             // code width
};
const ElementTraits& element_traits(ElementType t);

enum class MinifloatScaling { none, tensor };

struct MinifloatParams {
  ElementType element = ElementType::e4m3;  // int8 is MX-only
  MinifloatScaling scaling = MinifloatScaling::none;
  bool pow2_scale = false;  // scale = smallest power of two with amax ≤ scale·max_normal
  Rounding rounding = Rounding::nearest_even;  // kernels read the mode from QuantizeOptions::rounding
};

// Codes in memory order of x (OCP bit patterns); scale = 1 without scaling or for all-zero x.
struct MinifloatEncoded {
  PackedCodes codes;
  float scale = 1.0f;
};

void validate(const MinifloatParams& p);
double bits_per_value(const MinifloatParams& p);  // element bits (the one scale is not counted per value)

// The per-tensor scale SPEC §1.4 defines (1 when p.scaling is none or amax is 0).
float minifloat_scale(const MinifloatParams& p, float amax);

// Elementwise over l.numel() values (the layout's runs and groups do not matter). x == y is
// allowed. NaN/Inf in x throws lpt::Error naming o.name; o.rounding gives the rounding mode and
// stochastic rounding's key.
void minifloat_quantize(const MinifloatParams& p, const float* x, float* y, const BufferLayout& l,
                        const QuantizeOptions& o);
MinifloatEncoded minifloat_encode(const MinifloatParams& p, const float* x, const BufferLayout& l,
                                  const QuantizeOptions& o);
void minifloat_decode(const MinifloatParams& p, const MinifloatEncoded& codes, float* y, const BufferLayout& l);

// Element-level helpers shared with MX: the OCP bit pattern of a representable value and back.
// Codes that encoding never produces keep their OCP meaning (E4M3 S.1111.111 is NaN, E5M2's top
// exponent Inf/NaN).
uint32_t element_code(ElementType t, float v);
float element_value(ElementType t, uint32_t code);

}  // namespace lpt::formats
