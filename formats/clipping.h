#pragma once
// Choosing the clip value amax of a group (SPEC §3): max, percentile (exact order statistic),
// mse (the real quantizer's error over 100 candidates) and OCTAV (the MSE-optimal fixed point,
// cheap enough to run on every training iteration). Groups are the channels of a RunGeometry
// (index along `len`; {1, 1, n} is one group: per tensor). Sums are in double over fixed chunks,
// so results do not depend on the thread count.
#include <span>
#include <vector>

#include "formats/common.h"

namespace lpt::formats {

enum class ClipMethod { max, percentile, mse, octav };

struct Clipping {
  ClipMethod method = ClipMethod::max;
  double percentile = 99.99;  // p in (0, 100], for ClipMethod::percentile
};

// The uniform quantizer `mse` clipping measures: q = clamp(RNE(x/s), −qmax or 0, qmax),
// s = amax/qmax, with qmax = 2^(bits−1)−1 signed (narrow range) or 2^bits−1 unsigned.
struct UniformGrid {
  int bits;
  bool is_signed;
  int qmax() const { return is_signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1; }
};

// One read of the data: max |x| per group, whether all values are finite and whether any is
// negative (−0 is not).
struct GroupScan {
  std::vector<float> abs_max;
  bool finite = true;
  bool has_negative = false;
};
GroupScan scan_groups(const float* x, const RunGeometry& groups);

// The nearest-rank order statistic of |x|: the ceil(p/100·n)-th smallest (p = 100: the max).
float percentile_abs(const float* x, int64_t n, double p);

// The amax in {max·k/100 : k = 1..100} with the smallest squared error of the grid's quantizer
// (the smallest such amax on ties); 0 for an all-zero group.
float mse_clip(const float* x, int64_t n, const UniformGrid& grid);

// OCTAV (Sakr et al. 2022) for B-bit codes: c = 4^−B/3 (signed) or 4^−B/12 (unsigned).
double octav_noise_constant(const UniformGrid& grid);

// The three sums of one OCTAV step at s; with data parallelism these are what gets all-reduced.
struct OctavSums {
  double abs_above = 0;  // Σ |x|·1{|x| > s}
  double n_above = 0;    // #{|x| > s}
  double n_below = 0;    // #{0 < |x| ≤ s}
  OctavSums& operator+=(const OctavSums& o) {
    abs_above += o.abs_above;
    n_above += o.n_above;
    n_below += o.n_below;
    return *this;
  }
};
OctavSums octav_sums(const float* x, int64_t n, double s);

struct OctavResult {
  float s = 0;         // 0 only for an all-zero group
  int iterations = 0;  // fixed-point steps taken
};
// Iterates s ← Σ|x|·1{|x|>s} / (c·#{0<|x|≤s} + #{|x|>s}) from `warm_start` (≤ 0: the mean of the
// nonzero |x|, also taken whenever a set is empty) until the relative change is < 1e-4 or after
// 20 steps.
OctavResult octav_clip(const float* x, int64_t n, const UniformGrid& grid, float warm_start = 0);
// J(s) = c·s²·#{0<|x|≤s} + Σ(|x|−s)²·1{|x|>s}, over n: the MSE OCTAV minimises.
double octav_objective(const float* x, int64_t n, double s, double c);

// Clip values per group by `method`. `abs_max` is scan_groups' result (the `max` method's answer);
// `warm_start` (empty or one per group) seeds OCTAV, whose iteration count (the most over groups)
// goes to *octav_iterations when given. With `shards`, x is one process's shard and `abs_max` the
// maxima over all shards: the MSE and OCTAV sums are combined over the shards (percentile clipping
// is refused).
std::vector<float> clip_values(const float* x, const RunGeometry& groups, const Clipping& method,
                               const UniformGrid& grid, const std::vector<float>& abs_max,
                               std::span<const float> warm_start, int* octav_iterations,
                               const ShardReduce* shards = nullptr);

}  // namespace lpt::formats
