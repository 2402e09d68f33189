#pragma once
// HBFP — hybrid block floating point (SPEC §1.2, Accuracy Booster / Drumond et al.).
// Per block of `block_size` elements along the run: e = E(max|x|) (frexp), step = 2^(e−m),
// n = clamp(RNE(x/step), −(2^m−1), 2^m−1), value = n·step. All-zero blocks stay zero; a block
// whose step would fall below 2^−149 (the smallest fp32 subnormal) flushes to zero.
#include <vector>

#include "formats/code_packing.h"
#include "formats/quantize_options.h"

namespace lpt::formats {

struct HbfpParams {
  int mantissa_bits = 3;  // m, magnitude bits; the sign is extra ("HBFP4" is m = 3), 1..15
  int block_size = 64;    // B
  int exponent_bits = 0;  // 0: fp32's exponent range; k in 2..12: e clamped to [−2^(k−1), 2^(k−1)−1]
  // The element rounding this format asks for; kernels read the mode from QuantizeOptions::rounding,
  // which the caller fills from here.
  Rounding rounding = Rounding::nearest_even;
};

// Codes: mantissas n as (m+1)-bit two's complement in memory order of x; one shared exponent e
// per block, ordered [outer, block, inner] (value = n·2^(e−m)). All-zero and flushed blocks have
// all n = 0 and the lowest e: m − 149 for fp32's range, −2^(k−1) with k exponent bits.
struct HbfpEncoded {
  PackedCodes mantissas;
  std::vector<int16_t> exponents;
};

void validate(const HbfpParams& p);  // throws lpt::Error naming the bad parameter
// m+1 bits per element plus the block exponent (exponent_bits, or 8 for fp32's range) over B.
double bits_per_value(const HbfpParams& p);
int64_t num_blocks(const HbfpParams& p, const RunGeometry& g);

// Blocks run along l.runs. x == y is allowed. NaN/Inf in x throws lpt::Error naming o.name;
// o.rounding gives the rounding mode and stochastic rounding's key.
void hbfp_quantize(const HbfpParams& p, const float* x, float* y, const BufferLayout& l, const QuantizeOptions& o);
HbfpEncoded hbfp_encode(const HbfpParams& p, const float* x, const BufferLayout& l, const QuantizeOptions& o);
void hbfp_decode(const HbfpParams& p, const HbfpEncoded& codes, float* y, const BufferLayout& l);

}  // namespace lpt::formats
