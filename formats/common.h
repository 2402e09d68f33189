#pragma once
// What every format kernel shares: how a tensor is cut into runs (vectors, blocks), how a value is
// rounded (nearest-even, or stochastic keyed as SPEC §1 says), and the fp32 exponent of a maximum.
#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "core/philox.h"
#include "core/tensor.h"

namespace lpt::formats {

// A buffer viewed, in memory order, as [outer, len, inner]: runs (vectors, blocks) go along `len`
// (stride `inner`). A run that is not a multiple of the block size is padded with zeros at its end.
struct RunGeometry {
  int64_t outer = 1, len = 1, inner = 1;
  int64_t numel() const { return outer * len * inner; }
  bool operator==(const RunGeometry&) const = default;
  // A contiguous (row-major) tensor with runs along `axis`.
  static RunGeometry along_axis(const Shape& shape, int axis);
};

// Maps a position in memory order to the element's index in the logical (PyTorch-layout) tensor,
// which keys stochastic rounding (SPEC §1). Identity unless the buffer is a channels-last NCHW
// tensor, whose memory order is N, H, W, C.
struct LogicalOrder {
  int64_t channels = 0;  // C; 0 means memory order is logical order
  int64_t spatial = 0;   // H*W
  int64_t logical_index(int64_t m) const {
    if (channels == 0) return m;
    const int64_t per_image = channels * spatial;
    const int64_t n = m / per_image, r = m % per_image;
    return n * per_image + (r % channels) * spatial + r / channels;
  }
  static LogicalOrder of(const Tensor& t);  // channels-last 4-D tensors get the NHWC mapping
};

enum class Rounding { nearest_even, stochastic };

// Stochastic rounding's random numbers: Philox keyed by (seed, step, tensor id), counter = logical
// element index. Results do not depend on thread count and are reproducible on resume.
struct RoundingContext {
  Rounding mode = Rounding::nearest_even;
  uint64_t seed = 0;
  uint64_t step = 0;
  uint64_t tensor_id = 0;  // stable_hash(layer name, role, GEMM)
  LogicalOrder order;
  // The logical index of the buffer's first element in the whole tensor: nonzero for one process's
  // shard of a batch (SPEC §10: stochastic rounding is keyed by the global element index).
  int64_t first_index = 0;
  RandomStream stream() const { return step_stream(seed, step, tensor_id); }
  // The stream counter of the element at memory position m.
  uint64_t counter(int64_t m) const { return uint64_t(first_index + order.logical_index(m)); }
};

// Data parallelism (SPEC §10): the buffer is this process's shard of a tensor split over processes
// along its outermost logical axis (the batch), every shard the same size. The statistics one
// process takes over the whole tensor (group maxima behind per-tensor / per-channel scales and
// two-level γ, OCTAV's and MSE clipping's sums) are combined over the shards with these, so every
// process quantizes with the values one process computes for the global batch (up to the order of
// the sums). Every process calls them in the same sequence.
struct ShardReduce {
  std::function<void(std::span<float>)> max;   // element-wise maximum over the processes
  std::function<void(std::span<double>)> sum;  // element-wise sum over the processes, in rank order
  int64_t shard = 0;    // this process's shard: elements [shard·n, (shard + 1)·n) of the whole tensor
  int64_t samples = 1;  // samples (batch entries) in each shard
};

// Round-to-nearest-even of x (any magnitude fp32 can hold).
inline float round_even(float x) { return std::nearbyint(x); }  // default FE_TONEAREST mode

// Stochastic rounding: floor(x) + 1 iff u < frac(x), with u uniform in [0, 1).
inline float round_stochastic(float x, float u) {
  const float f = std::floor(x);
  return (u < x - f) ? f + 1.0f : f;
}

// E(m) for m > 0: the integer with m = f * 2^E, f in [0.5, 1), read from the fp32 representation
// (frexp), never from a rounded log2 (SPEC §1 common rules).
inline int exponent_of(float m) {
  int e;
  std::frexp(m, &e);
  return e;
}

// Throws naming the tensor when any value is NaN or Inf.
void check_finite(const float* x, int64_t n, const std::string& tensor_name);

}  // namespace lpt::formats
