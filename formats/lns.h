#pragma once
// LNS — logarithmic number system (SPEC §1.3, LNS-Madam). scale = max|x| per group;
// k = RNE(−γ·log2(|x|/scale)) in double, k in [0, kmax = 2^(B−1)−2]; k > kmax or x = 0 is zero
// (all-ones code 2^(B−1)−1); value = fl32(sign·scale·2^(−k/γ)) computed in double.
#include <vector>

#include "formats/code_packing.h"
#include "formats/quantize_options.h"

namespace lpt::formats {

enum class LnsGranularity { tensor, channel };

struct LnsParams {
  int bits = 8;        // B: 1 sign bit + B−1 code bits, 2..16
  double gamma = 8.0;  // γ: base 2^(1/γ), in (0, 65536]
  // tensor: one scale; channel: one scale per channel group of the BufferLayout (l.groups).
  LnsGranularity granularity = LnsGranularity::tensor;
  Rounding rounding = Rounding::nearest_even;  // kernels read the mode from QuantizeOptions::rounding
};

// Codes: sign bit (bit B−1) + k (bits 0..B−2) in memory order of x; zero is sign 0 + all-ones k.
// scales: one (tensor) or l.num_groups() (channel) fp32 scales; an all-zero group has scale 0.
struct LnsEncoded {
  PackedCodes codes;
  std::vector<float> scales;
};

void validate(const LnsParams& p);
double bits_per_value(const LnsParams& p);  // B (one fp32 scale per group is not counted per value)
inline int lns_zero_code(const LnsParams& p) { return (1 << (p.bits - 1)) - 1; }

// x == y is allowed. Errors name o.name: NaN/Inf input, channel granularity without a channel
// axis. o.rounding gives the rounding mode and stochastic rounding's key.
void lns_quantize(const LnsParams& p, const float* x, float* y, const BufferLayout& l, const QuantizeOptions& o);
// Per tensor with bits ≤ 8, one call's values are the codebook {±fl32(scale·2^(−k/γ)), +0}
// indexed by the codes: lns_quantize_codebook writes y as lns_quantize does, the codes (one byte
// each, memory order) and returns the codebook (2^bits entries; unused codes hold +0).
bool lns_has_codebook(const LnsParams& p);
std::vector<float> lns_quantize_codebook(const LnsParams& p, const float* x, float* y, uint8_t* codes,
                                         const BufferLayout& l, const QuantizeOptions& o);
LnsEncoded lns_encode(const LnsParams& p, const float* x, const BufferLayout& l, const QuantizeOptions& o);
void lns_decode(const LnsParams& p, const LnsEncoded& codes, float* y, const BufferLayout& l);

}  // namespace lpt::formats
