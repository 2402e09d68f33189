#include "formats/clipping.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace lpt::formats {

namespace {

// Sums are taken per fixed chunk in parallel and combined in chunk order, so they do not depend on
// the thread count (SPEC: deterministic; OCTAV identical for any number of threads).
constexpr int64_t kChunk = int64_t{1} << 14;

template <class T, class Partial>
T chunked_sum(int64_t n, const Partial& partial) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<T> parts(static_cast<size_t>(chunks));
  // Inside a parallel region (one group per thread) the chunks run on the calling thread.
#pragma omp parallel for schedule(static) if (!omp_in_parallel())
  for (int64_t c = 0; c < chunks; ++c) parts[size_t(c)] = partial(c * kChunk, std::min(n, (c + 1) * kChunk));
  T total{};
  for (const T& p : parts) total += p;
  return total;
}

constexpr int kMseCandidates = 100;
struct MseErrors {
  std::array<double, kMseCandidates> sse{};
  MseErrors& operator+=(const MseErrors& o) {
    for (int k = 0; k < kMseCandidates; ++k) sse[k] += o.sse[k];
    return *this;
  }
};

}  // namespace

namespace {
// Magnitudes are compared as bit patterns: |x|'s bits order finite magnitudes as their values do and
// are >= 0x7f800000 exactly for Inf and NaN, and unsigned max reductions vectorise (float max with
// NaN semantics does not). A negative nonzero x is the only value whose raw bits exceed 0x80000000.
constexpr uint32_t kAbsMask = 0x7fffffffu, kNonFinite = 0x7f800000u, kNegativeZero = 0x80000000u;
inline uint32_t bits_of(float v) { return std::bit_cast<uint32_t>(v); }
// One chunk's OCTAV sums (n < 2^31). For a float a, a > s iff a > t with t the largest float
// <= s, and magnitudes compare as their bit patterns: integer compares and masks are what GCC
// vectorises here (floating-point compares are not, with -ftrapping-math).
OctavSums octav_chunk(const float* x, int64_t n, double s) {
  float tf = float(s);
  if (double(tf) > s) tf = std::nextafter(tf, 0.0f);
  const uint32_t t = std::bit_cast<uint32_t>(tf);
  double above = 0;
  int32_t n_above = 0, n_nonzero = 0;
#pragma omp simd reduction(+ : above, n_above, n_nonzero)
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t a = std::bit_cast<uint32_t>(x[i]) & 0x7fffffffu;
    const uint32_t hi = a > t;
    above += double(std::bit_cast<float>(a & (0u - hi)));
    n_above += int32_t(hi);
    n_nonzero += int32_t(a != 0);
  }
  return OctavSums{above, double(n_above), double(n_nonzero - n_above)};
}

}  // namespace

GroupScan scan_groups(const float* x, const RunGeometry& g) {
  const int64_t C = g.len, n = g.numel();
  std::vector<uint32_t> am(size_t(C), 0);
  uint32_t raw = 0;
  if (C == 1) {
    uint32_t m = 0;
#pragma omp parallel for simd schedule(static) reduction(max : m, raw)
    for (int64_t i = 0; i < n; ++i) {
      m = std::max(m, bits_of(x[i]) & kAbsMask);
      raw = std::max(raw, bits_of(x[i]));
    }
    am[0] = m;
  } else {
    // Thread-local maxima merged afterwards: max is exact, so the merge order is irrelevant.
#pragma omp parallel reduction(max : raw)
    {
      std::vector<uint32_t> local(size_t(C), 0);
      uint32_t* lm = local.data();
      if (g.inner == 1) {
#pragma omp for schedule(static)
        for (int64_t o = 0; o < g.outer; ++o) {
          const float* row = x + o * C;
#pragma omp simd reduction(max : raw)
          for (int64_t c = 0; c < C; ++c) {
            lm[c] = std::max(lm[c], bits_of(row[c]) & kAbsMask);
            raw = std::max(raw, bits_of(row[c]));
          }
        }
      } else {
#pragma omp for schedule(static)
        for (int64_t span = 0; span < g.outer * C; ++span) {
          const float* p = x + span * g.inner;
          uint32_t m = 0;
#pragma omp simd reduction(max : m, raw)
          for (int64_t j = 0; j < g.inner; ++j) {
            m = std::max(m, bits_of(p[j]) & kAbsMask);
            raw = std::max(raw, bits_of(p[j]));
          }
          lm[span % C] = std::max(lm[span % C], m);
        }
      }
#pragma omp critical
      for (int64_t c = 0; c < C; ++c) am[size_t(c)] = std::max(am[size_t(c)], lm[c]);
    }
  }
  GroupScan scan;
  scan.finite = *std::max_element(am.begin(), am.end()) < kNonFinite;
  scan.has_negative = raw > kNegativeZero;
  scan.abs_max.resize(size_t(C));
  for (int64_t c = 0; c < C; ++c) scan.abs_max[size_t(c)] = std::bit_cast<float>(am[size_t(c)]);
  return scan;
}

float percentile_abs(const float* x, int64_t n, double p) {
  LPT_CHECK(p > 0 && p <= 100, "percentile clipping: p = ", p, ", expected 0 < p <= 100");
  if (n == 0) return 0.0f;
  std::vector<float> a(static_cast<size_t>(n));
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) a[size_t(i)] = std::fabs(x[i]);
  const int64_t rank = std::clamp<int64_t>(int64_t(std::ceil(p / 100.0 * double(n))), 1, n);
  std::nth_element(a.begin(), a.begin() + (rank - 1), a.end());
  return a[size_t(rank - 1)];
}

namespace {
// The squared error of the grid's quantizer at each MSE candidate amax·k/100 (k = 1..100).
MseErrors mse_errors(const float* x, int64_t n, const UniformGrid& grid, float amax) {
  const float qmax = float(grid.qmax()), lo = grid.is_signed ? -qmax : 0.0f;
  std::array<float, kMseCandidates> scale{};
  for (int k = 0; k < kMseCandidates; ++k) scale[k] = float(double(amax) * (k + 1) / kMseCandidates) / qmax;
  return chunked_sum<MseErrors>(n, [&](int64_t b, int64_t e) {
    MseErrors part;
    for (int k = 0; k < kMseCandidates; ++k) {
      const float s = scale[k];
      double sse = 0;
      if (s == 0.0f) {  // the candidate's scale underflows: everything quantizes to zero
        for (int64_t i = b; i < e; ++i) sse += double(x[i]) * x[i];
      } else {
#pragma omp simd reduction(+ : sse)
        for (int64_t i = b; i < e; ++i) {
          const float q = std::nearbyint(std::min(std::max(x[i] / s, lo), qmax));
          const float d = x[i] - q * s;
          sse += double(d) * d;
        }
      }
      part.sse[k] = sse;
    }
    return part;
  });
}

// The candidate with the smallest error (the smallest amax on ties).
float mse_best(const MseErrors& err, float amax) {
  int best = 0;
  for (int k = 1; k < kMseCandidates; ++k)
    if (err.sse[k] < err.sse[best]) best = k;
  return float(double(amax) * (best + 1) / kMseCandidates);
}
}  // namespace

float mse_clip(const float* x, int64_t n, const UniformGrid& grid) {
  float amax = 0.0f;
#pragma omp parallel for simd schedule(static) reduction(max : amax)
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  if (amax == 0.0f) return 0.0f;
  return mse_best(mse_errors(x, n, grid, amax), amax);
}

double octav_noise_constant(const UniformGrid& grid) {
  return std::pow(4.0, -grid.bits) / (grid.is_signed ? 3.0 : 12.0);
}

OctavSums octav_sums(const float* x, int64_t n, double s) {
  return chunked_sum<OctavSums>(n, [x, s](int64_t b, int64_t e) { return octav_chunk(x + b, e - b, s); });
}

namespace {

// The elements of every group, each contiguous: in place when a group is one span of the buffer
// (one group, or groups along the outermost axis), else gathered once.
class GroupSpans {
 public:
  GroupSpans(const float* x, const RunGeometry& g) : x_(x), g_(g) {
    if (g.len == 1 || g.outer == 1) return;
    gathered_.resize(size_t(g.numel()));
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < g.len; ++c)
      for (int64_t o = 0; o < g.outer; ++o)
        std::copy_n(x + (o * g.len + c) * g.inner, g.inner, gathered_.data() + (c * g.outer + o) * g.inner);
  }
  int64_t count() const { return g_.len; }
  int64_t size() const { return g_.outer * g_.inner; }  // elements per group
  const float* data(int64_t c) const {
    if (g_.len == 1) return x_;
    return gathered_.empty() ? x_ + c * g_.inner : gathered_.data() + c * size();
  }

 private:
  const float* x_;
  RunGeometry g_;
  std::vector<float> gathered_;
};

// Runs f(c) for each group c in `todo`: one group per thread when there are several (each group's
// sums are chunked, so their values do not depend on how the groups are spread over threads).
template <class F>
void for_groups(const std::vector<int64_t>& todo, const F& f) {
  if (todo.size() == 1) return f(todo[0]);
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t i = 0; i < todo.size(); ++i) f(todo[i]);
}

// OCTAV's sums at s[c] for the groups in `todo`, combined over the shards (all zero for the others).
std::vector<OctavSums> octav_group_sums(const GroupSpans& data, const std::vector<int64_t>& todo,
                                        const std::vector<double>& s, const ShardReduce* shards) {
  std::vector<OctavSums> sums(size_t(data.count()));
  for_groups(todo, [&](int64_t c) { sums[size_t(c)] = octav_sums(data.data(c), data.size(), s[size_t(c)]); });
  if (shards) {
    static_assert(sizeof(OctavSums) == 3 * sizeof(double));
    shards->sum(std::span<double>(reinterpret_cast<double*>(sums.data()), 3 * sums.size()));
  }
  return sums;
}

// OCTAV on every group with a nonzero maximum, all groups iterating in step so that each step's
// sums of all groups are combined over the shards at once. Per group, the iteration is that of
// octav_clip's contract: s ← Σ|x|·1{|x|>s} / (c·#{0<|x|≤s} + #{|x|>s}) from the warm start (or the
// mean of the nonzero |x|, also taken whenever a set is empty) until the relative change is < 1e-4
// or after 20 steps.
std::vector<OctavResult> octav_groups(const GroupSpans& data, const UniformGrid& grid,
                                      const std::vector<float>& abs_max, std::span<const float> warm_start,
                                      const ShardReduce* shards) {
  constexpr int kMaxIterations = 20;
  constexpr double kTolerance = 1e-4;
  const double c = octav_noise_constant(grid);
  const int64_t G = data.count();
  std::vector<OctavResult> result(static_cast<size_t>(G));
  std::vector<double> s(size_t(G), 0.0);
  std::vector<bool> from_mean(size_t(G), false);
  std::vector<int64_t> active;
  for (int64_t g = 0; g < G; ++g)
    if (abs_max[size_t(g)] != 0.0f) active.push_back(g);  // all zero: clip 0
  // The mean of the nonzero |x| per group (the sums at s = 0 count every nonzero |x| as above),
  // computed once, when first needed.
  std::vector<double> mean;
  const auto means = [&]() -> const std::vector<double>& {
    if (mean.empty()) {
      const std::vector<OctavSums> all = octav_group_sums(data, active, std::vector<double>(size_t(G), 0.0), shards);
      mean.resize(size_t(G));
      for (int64_t g = 0; g < G; ++g)
        mean[size_t(g)] = all[size_t(g)].n_above > 0 ? all[size_t(g)].abs_above / all[size_t(g)].n_above : 0.0;
    }
    return mean;
  };
  for (int64_t g : active) {
    from_mean[size_t(g)] = warm_start.empty() || !(warm_start[size_t(g)] > 0);
    s[size_t(g)] = from_mean[size_t(g)] ? means()[size_t(g)] : double(warm_start[size_t(g)]);
  }
  std::erase_if(active, [&](int64_t g) { return s[size_t(g)] == 0; });  // {0, 0}
  for (int it = 1; it <= kMaxIterations && !active.empty(); ++it) {
    std::vector<OctavSums> sums = octav_group_sums(data, active, s, shards);
    // A warm start with an empty set restarts from the mean.
    std::vector<int64_t> restart;
    for (int64_t g : active)
      if ((sums[size_t(g)].n_above == 0 || sums[size_t(g)].n_below == 0) && !from_mean[size_t(g)]) restart.push_back(g);
    if (!restart.empty()) {
      for (int64_t g : restart) {
        s[size_t(g)] = means()[size_t(g)];
        from_mean[size_t(g)] = true;
        if (s[size_t(g)] == 0) result[size_t(g)] = {0.0f, it};
      }
      std::erase_if(restart, [&](int64_t g) { return s[size_t(g)] == 0; });
      std::erase_if(active, [&](int64_t g) { return s[size_t(g)] == 0; });
      const std::vector<OctavSums> again = octav_group_sums(data, restart, s, shards);
      for (int64_t g : restart) sums[size_t(g)] = again[size_t(g)];
    }
    std::erase_if(active, [&](int64_t g) {
      const OctavSums& t = sums[size_t(g)];
      // At the mean the lower set is never empty; an empty upper set means every nonzero |x|
      // equals the mean, which is then J's minimiser.
      if (t.n_above == 0) {
        result[size_t(g)] = {float(s[size_t(g)]), it};
        return true;
      }
      const double next = t.abs_above / (c * t.n_below + t.n_above);
      const bool converged = std::fabs(next - s[size_t(g)]) < kTolerance * s[size_t(g)];
      s[size_t(g)] = next;
      result[size_t(g)] = {float(next), it};
      return converged;
    });
  }
  return result;
}

}  // namespace

OctavResult octav_clip(const float* x, int64_t n, const UniformGrid& grid, float warm_start) {
  // The group counts as nonzero: all-zero data has mean 0, which gives {0, 0} (or, from a warm
  // start, {0, 1}).
  return octav_groups(GroupSpans(x, RunGeometry{1, 1, n}), grid, {1.0f}, std::span<const float>(&warm_start, 1),
                      nullptr)[0];
}

double octav_objective(const float* x, int64_t n, double s, double c) {
  double j = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double a = std::fabs(double(x[i]));
    if (a > s)
      j += (a - s) * (a - s);
    else if (a > 0)
      j += c * s * s;
  }
  return n > 0 ? j / double(n) : 0.0;
}

std::vector<float> clip_values(const float* x, const RunGeometry& groups, const Clipping& method,
                               const UniformGrid& grid, const std::vector<float>& abs_max,
                               std::span<const float> warm_start, int* octav_iterations, const ShardReduce* shards) {
  const int64_t C = groups.len;
  LPT_CHECK(warm_start.empty() || int64_t(warm_start.size()) == C, "OCTAV warm start: ", warm_start.size(),
            " values for ", C, " groups");
  if (octav_iterations) *octav_iterations = 0;
  if (method.method == ClipMethod::max) return abs_max;
  const GroupSpans data(x, groups);
  std::vector<int64_t> nonzero;  // an all-zero group keeps clip 0 (its scale is taken as 1)
  for (int64_t c = 0; c < C; ++c)
    if (abs_max[size_t(c)] != 0.0f) nonzero.push_back(c);
  std::vector<float> clip(size_t(C), 0.0f);
  switch (method.method) {
    case ClipMethod::percentile:
      LPT_CHECK(!shards, "percentile clipping of a tensor split over data-parallel processes would need all of "
                "its values on every process; it is not supported there");
      for_groups(nonzero, [&](int64_t c) {
        clip[size_t(c)] = percentile_abs(data.data(c), data.size(), method.percentile);
      });
      break;
    case ClipMethod::mse: {
      std::vector<MseErrors> err(static_cast<size_t>(C));
      for_groups(nonzero, [&](int64_t c) {
        err[size_t(c)] = mse_errors(data.data(c), data.size(), grid, abs_max[size_t(c)]);
      });
      if (shards) {
        static_assert(sizeof(MseErrors) == kMseCandidates * sizeof(double));
        shards->sum(std::span<double>(reinterpret_cast<double*>(err.data()), size_t(kMseCandidates) * err.size()));
      }
      for (int64_t c : nonzero) clip[size_t(c)] = mse_best(err[size_t(c)], abs_max[size_t(c)]);
      break;
    }
    case ClipMethod::octav: {
      const std::vector<OctavResult> r = octav_groups(data, grid, abs_max, warm_start, shards);
      for (int64_t c = 0; c < C; ++c) {
        clip[size_t(c)] = r[size_t(c)].s;
        if (octav_iterations) *octav_iterations = std::max(*octav_iterations, r[size_t(c)].iterations);
      }
      break;
    }
    case ClipMethod::max:
      break;
  }
  return clip;
}

}  // namespace lpt::formats
