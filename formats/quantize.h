#pragma once
// Fake quantization (SPEC §1): fp32 in, the nearest values the format represents out, on raw
// buffers or on Tensors. The format's `rounding` picks nearest-even or stochastic; the options
// carry stochastic rounding's key, the axes, frozen clip values and the diagnostics sink.
#include <memory>

#include "core/tensor.h"
#include "formats/format.h"
#include "formats/quantize_options.h"

namespace lpt::formats {

// y = Q(x) over a buffer laid out as `l` (x == y allowed). With o.stats, also the diagnostics.
void quantize(const Format& f, const float* x, float* y, const BufferLayout& l, const QuantizeOptions& o);

// The int8 lane's quantization, for a format whose exact_type() is s8 or u8: q8 receives the 8-bit
// integers (q, or q·S_v), the result is the fp32 scale per group of `l`, and fl32(q8·scale) is bit
// for bit the value quantize() gives, which y (may be null) receives too. With o.stats, the same
// diagnostics as quantize().
std::vector<float> quantize_int8(const Format& f, const float* x, float* y, uint8_t* q8, const BufferLayout& l,
                                 const QuantizeOptions& o);

// For a format with has_codebook(): codes receives one byte per value and the result is the
// codebook, codebook[code] bit for bit the value quantize() gives, which y receives too. With
// o.stats, the same diagnostics as quantize().
std::vector<float> quantize_codebook(const Format& f, const float* x, float* y, uint8_t* codes,
                                     const BufferLayout& l, const QuantizeOptions& o);

// A new tensor carrying the format, contiguous or channels-last like x (other strided views come
// back contiguous). Runs go along o.axis and scale groups along o.channel_axis of the logical
// tensor; stochastic rounding is keyed by logical element index. An empty tensor stays empty.
Tensor quantize(const Tensor& x, std::shared_ptr<const Format> f, const QuantizeOptions& o = {});
Tensor quantize(const Tensor& x, const Format& f, const QuantizeOptions& o = {});

// Whether a format takes a clip value (QuantizeOptions::fixed_clip, QuantizeStats::clip): INT's
// per-group amax, and the amax behind a minifloat's per-tensor scale.
bool has_clip_value(const Format& f);

// The options a format's kernels get for a buffer laid out as `l`: the format's rounding mode,
// after checking that frozen clip values are only given to a format that has clip values, OCTAV
// warm starts only to INT, and that no vector or block of one process's shard of a batch would
// straddle two shards (then the shards would not quantize as the whole batch does).
QuantizeOptions kernel_options(const Format& f, const BufferLayout& l, const QuantizeOptions& o);

// The generic part of QuantizeStats from x and its quantization y: SQNR, the flushed fraction and,
// when stats.clip holds one value per group, the clipped fraction. Deterministic for any thread count.
void fill_error_stats(const float* x, const float* y, const BufferLayout& l, QuantizeStats& stats);

}  // namespace lpt::formats
