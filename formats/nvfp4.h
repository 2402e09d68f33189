#pragma once
// NVFP4 (SPEC §1.4): NVIDIA's two-level FP4, the floating-point sibling of VS-Quant's two-level
// INT. E2M1 elements; blocks of 16 along the run, each with an FP8 E4M3 scale s_b; one fp32 scale
// s_t per tensor. In fp32, in this order:
//   s_t = fl32(amax_t / 2688)                        (2688 = 448·6; 1 for an all-zero tensor)
//   s_b = E4M3_RNE_saturating(fl32(amax_b / fl32(6·s_t)))
//   e   = E2M1(fl32(x / fl32(s_b·s_t)))              (RNE or stochastic, saturating; 0 where s_b = 0)
//   value = fl32(fl32(e·s_b)·s_t)
// fl32(e·s_b) has at most 6 significant bits, so a GEMM runs on it in bf16 with s_t factored out
// (SPEC §9). amax_t is a clip value: evaluation freezes it (SPEC §2).
#include <vector>

#include "formats/code_packing.h"
#include "formats/quantize_options.h"

namespace lpt::formats {

struct Nvfp4Params {
  Rounding rounding = Rounding::nearest_even;  // kernels read the mode from QuantizeOptions::rounding
  // "weight_blocks": "2d": weights take 16×16 blocks (input × output channels), so that the
  // transposed weight of backward-data is quantized identically; where a caller lays a weight out
  // so (BufferLayout::block_rows = 16). Activations, errors and depthwise weights keep 1-D blocks.
  bool weight_blocks_2d = false;
};
constexpr int64_t kNvfp4Block = 16;

// Elements in memory order of x (E2M1 OCP bit patterns); block scales as E4M3 bytes ordered
// [outer, block, inner]; the tensor scale s_t.
struct Nvfp4Encoded {
  PackedCodes elements;
  std::vector<uint8_t> scales;
  float tensor_scale = 1.0f;
};

void validate(const Nvfp4Params& p);
double bits_per_value(const Nvfp4Params& p);  // 4 + 8/16 (the one fp32 s_t is not counted per value)

// s_t from the tensor's amax: fl32(amax / 2688), 1 for 0, at least 2^−149 (so that no block
// divides by zero).
float nvfp4_tensor_scale(float amax);

// Blocks run along l.runs, and span l.block_rows consecutive outer indices (2-D blocks; then the
// scales are ordered [outer tile, block, inner]). x == y is allowed. NaN/Inf in x throws lpt::Error naming o.name;
// o.rounding gives the rounding mode and stochastic rounding's key; stats get amax_t (clip) and
// s_t (scale); amax_t is o.fixed_clip when set, else combined over o.shards.
void nvfp4_quantize(const Nvfp4Params& p, const float* x, float* y, const BufferLayout& l, const QuantizeOptions& o);
Nvfp4Encoded nvfp4_encode(const Nvfp4Params& p, const float* x, const BufferLayout& l, const QuantizeOptions& o);
void nvfp4_decode(const Nvfp4Params& p, const Nvfp4Encoded& codes, float* y, const BufferLayout& l);

}  // namespace lpt::formats
