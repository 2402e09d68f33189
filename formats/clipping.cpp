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

// The elements of group c of `groups`, gathered contiguously.
void gather_group(const float* x, const RunGeometry& g, int64_t c, std::vector<float>& out) {
  out.resize(size_t(g.outer * g.inner));
  for (int64_t o = 0; o < g.outer; ++o) std::copy_n(x + (o * g.len + c) * g.inner, g.inner, out.data() + o * g.inner);
}

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

float mse_clip(const float* x, int64_t n, const UniformGrid& grid) {
  float amax = 0.0f;
#pragma omp parallel for simd schedule(static) reduction(max : amax)
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  if (amax == 0.0f) return 0.0f;
  const float qmax = float(grid.qmax()), lo = grid.is_signed ? -qmax : 0.0f;
  std::array<float, kMseCandidates> cand{}, scale{};
  for (int k = 0; k < kMseCandidates; ++k) {
    cand[k] = float(double(amax) * (k + 1) / kMseCandidates);
    scale[k] = cand[k] / qmax;
  }
  const MseErrors err = chunked_sum<MseErrors>(n, [&](int64_t b, int64_t e) {
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
  int best = 0;
  for (int k = 1; k < kMseCandidates; ++k)
    if (err.sse[k] < err.sse[best]) best = k;
  return cand[best];
}

double octav_noise_constant(const UniformGrid& grid) {
  return std::pow(4.0, -grid.bits) / (grid.is_signed ? 3.0 : 12.0);
}

OctavSums octav_sums(const float* x, int64_t n, double s) {
  return chunked_sum<OctavSums>(n, [x, s](int64_t b, int64_t e) { return octav_chunk(x + b, e - b, s); });
}

OctavResult octav_clip(const float* x, int64_t n, const UniformGrid& grid, float warm_start) {
  constexpr int kMaxIterations = 20;
  constexpr double kTolerance = 1e-4;
  const double c = octav_noise_constant(grid);
  // Mean of the nonzero |x|: the sums at s = 0 count every nonzero element as "above".
  const auto mean_nonzero = [&] {
    const OctavSums all = octav_sums(x, n, 0.0);
    return all.n_above > 0 ? all.abs_above / all.n_above : 0.0;
  };
  bool from_mean = !(warm_start > 0);
  double s = from_mean ? mean_nonzero() : double(warm_start);
  if (s == 0) return {0.0f, 0};
  OctavResult r;
  for (int it = 1; it <= kMaxIterations; ++it) {
    OctavSums sums = octav_sums(x, n, s);
    if (sums.n_above == 0 || sums.n_below == 0) {
      if (!from_mean) {
        s = mean_nonzero();
        if (s == 0) return {0.0f, it};
        from_mean = true;
        sums = octav_sums(x, n, s);
      }
      // At the mean the lower set is never empty; an empty upper set means every nonzero |x|
      // equals the mean, which is then J's minimiser.
      if (sums.n_above == 0) return {float(s), it};
    }
    const double next = sums.abs_above / (c * sums.n_below + sums.n_above);
    r.iterations = it;
    const bool converged = std::fabs(next - s) < kTolerance * s;
    s = next;
    if (converged) break;
  }
  r.s = float(s);
  return r;
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
                               std::span<const float> warm_start, int* octav_iterations) {
  const int64_t C = groups.len;
  LPT_CHECK(warm_start.empty() || int64_t(warm_start.size()) == C, "OCTAV warm start: ", warm_start.size(),
            " values for ", C, " groups");
  if (method.method == ClipMethod::max) return abs_max;
  std::vector<float> clip(size_t(C), 0.0f);
  std::vector<int> iterations(size_t(C), 0);
  const auto one_group = [&](int64_t c, const float* data, int64_t n) {
    if (abs_max[size_t(c)] == 0.0f) return;  // all zero: clip 0, scale taken as 1 by the quantizer
    switch (method.method) {
      case ClipMethod::percentile:
        clip[size_t(c)] = percentile_abs(data, n, method.percentile);
        break;
      case ClipMethod::mse:
        clip[size_t(c)] = mse_clip(data, n, grid);
        break;
      case ClipMethod::octav: {
        const OctavResult r = octav_clip(data, n, grid, warm_start.empty() ? 0.0f : warm_start[size_t(c)]);
        clip[size_t(c)] = r.s;
        iterations[size_t(c)] = r.iterations;
        break;
      }
      case ClipMethod::max:
        break;
    }
  };
  if (C == 1) {
    one_group(0, x, groups.numel());  // parallel inside
  } else {
    // One group per thread at a time; each group's sums are chunked as above, so the values are
    // the same as computed one group after another.
#pragma omp parallel
    {
      std::vector<float> buf;
#pragma omp for schedule(dynamic, 1)
      for (int64_t c = 0; c < C; ++c) {
        if (groups.outer == 1) {  // channel c is contiguous (e.g. the output channels of OIHW weights)
          one_group(c, x + c * groups.inner, groups.inner);
          continue;
        }
        gather_group(x, groups, c, buf);
        one_group(c, buf.data(), int64_t(buf.size()));
      }
    }
  }
  if (octav_iterations) *octav_iterations = *std::max_element(iterations.begin(), iterations.end());
  return clip;
}

}  // namespace lpt::formats
