#pragma once
// What a quantizer needs besides the format and the data: where the runs (vectors, blocks) and the
// channel groups lie in the buffer, the rounding key, frozen clip values for evaluation, OCTAV's
// warm start, and where to put diagnostics. Shared by every format kernel (formats/*.h).
#include <cmath>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "formats/common.h"

namespace lpt::formats {

// A buffer in memory order seen two ways: `runs` cuts it into runs along `runs.len` (vectors and
// blocks go along them), `groups` into channels along `groups.len` (per-channel scales, two-level
// γ); without a channel axis `groups` is {1, 1, n}: one group.
struct BufferLayout {
  RunGeometry runs;
  RunGeometry groups;
  bool has_channel_axis = false;
  // 2-D blocks (NVFP4's "weight_blocks": "2d"): a block also spans this many consecutive outer
  // indices of the runs, zero-padded at the end: 16×16 tiles of a weight whose runs go along its
  // input channels and whose outer index is its output channel (layers/quant/gemm_layouts.h says
  // where). 1: blocks along the runs only. Only a format whose weight_block_rows() it is takes it.
  int64_t block_rows = 1;

  int64_t numel() const { return runs.numel(); }
  int64_t num_groups() const { return groups.len; }
  bool operator==(const BufferLayout&) const = default;
  int64_t group_of(int64_t m) const { return (m / groups.inner) % groups.len; }
  // A flat buffer of n elements: runs along it, one group.
  static BufferLayout flat(int64_t n);
  // A dense tensor (any axis order: geometry is taken from its strides) with runs along logical
  // `axis` and channel groups along logical `channel_axis` (none: per tensor). Negative axes count
  // from the end.
  static BufferLayout of(const Tensor& t, int axis, std::optional<int> channel_axis);
  // The same for a row-major (contiguous) tensor of this shape.
  static BufferLayout row_major(const Shape& shape, int axis, std::optional<int> channel_axis);
};

// Diagnostics a quantizer reports when asked (training logs, the quantize command). Fields a
// format has no notion of stay empty / NaN.
struct QuantizeStats {
  std::vector<float> clip;   // per group: the clip value amax (INT tensor/channel/two-level), OCTAV's s
  std::vector<float> scale;  // per group: the fp32 scale s = amax/qmax, or γ for two-level INT
  int octav_iterations = 0;  // most OCTAV iterations over the groups (0: no OCTAV)
  // Per-vector scales (INT vector granularity): S_v (two-level) or s_v (fp32 scales).
  double vector_scale_min = std::numeric_limits<double>::quiet_NaN();
  double vector_scale_max = std::numeric_limits<double>::quiet_NaN();
  double vector_scale_mean = std::numeric_limits<double>::quiet_NaN();
  double clipped_fraction = std::numeric_limits<double>::quiet_NaN();  // |x| > its group's clip value
  double flushed_fraction = 0;                                         // nonzero inputs that became zero
  double sqnr_db = 0;  // 10·log10(Σx² / Σ(x−q)²); +inf when exact
};

struct QuantizeOptions {
  int axis = -1;                    // logical axis the runs (vectors, blocks) go along
  int64_t block_rows = 1;           // encode(): BufferLayout::block_rows of the row-major tensor (axis 0 outer)
  std::optional<int> channel_axis;  // per-channel scales / two-level γ per index of this axis
  std::string name = "tensor";      // named in every error
  RoundingContext rounding;         // stochastic rounding's key; the format's `rounding` sets the mode
  bool input_nonnegative = false;   // resolves INT `signed: "auto"`: unsigned for ReLU/ReLU6 outputs
  // Viewed, not copied: the caller keeps them alive for the call.
  std::span<const float> fixed_clip;  // frozen clip value per group (evaluation, calibration)
  std::span<const float> warm_start;  // OCTAV: the previous s per group (empty: cold start)
  // Data parallelism: x is this process's shard of the batch (SPEC §10); null: x is the whole tensor.
  const ShardReduce* shards = nullptr;
  QuantizeStats* stats = nullptr;
  // With stats: whether to also measure the error (SQNR, clipped and flushed fractions), one more
  // pass over the data; the kernel's own outputs (clip values, scales) come either way.
  bool error_stats = true;
};

}  // namespace lpt::formats
