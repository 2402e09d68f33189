#pragma once
// OCP Microscaling v1.0 (SPEC §1.4): blocks of 32 along the run share an E8M0 scale X = 2^E,
// E = E(max|x|) − 1 − emax(element), clamped to [−127, 127]; elements are x/X rounded into the
// element format, saturating. MXINT8 elements are k/64, k in [−127, 127]. An all-zero block has
// E = −127 and zero elements (agrees with microsoft/microxcaling, round mode "even").
#include <vector>

#include "formats/code_packing.h"
#include "formats/minifloat.h"
#include "formats/quantize_options.h"

namespace lpt::formats {

struct MxParams {
  ElementType element = ElementType::e2m1;  // mxfp8 e4m3/e5m2, mxfp6 e3m2/e2m3, mxfp4 e2m1, mxint8
  int block_size = 32;
  Rounding rounding = Rounding::nearest_even;  // kernels read the mode from QuantizeOptions::rounding
};

// Elements in memory order of x (OCP bit patterns; MXINT8 as int8 two's complement k);
// scales are E8M0 bytes E + 127, ordered [outer, block, inner].
struct MxEncoded {
  PackedCodes elements;
  std::vector<uint8_t> scales;
};

void validate(const MxParams& p);
double bits_per_value(const MxParams& p);  // element bits + 8 / block_size
int64_t num_blocks(const MxParams& p, const RunGeometry& g);

// Blocks run along l.runs. x == y is allowed. NaN/Inf in x throws lpt::Error naming o.name;
// o.rounding gives the rounding mode and stochastic rounding's key.
void mx_quantize(const MxParams& p, const float* x, float* y, const BufferLayout& l, const QuantizeOptions& o);
MxEncoded mx_encode(const MxParams& p, const float* x, const BufferLayout& l, const QuantizeOptions& o);
void mx_decode(const MxParams& p, const MxEncoded& codes, float* y, const BufferLayout& l);

}  // namespace lpt::formats
