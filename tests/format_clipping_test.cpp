// Clipping (SPEC §3): percentile as an exact order statistic, mse against a brute-force search
// with the real quantizer, and OCTAV against the brute-force minimiser of J(s).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "formats/clipping.h"
#include "tests/support/format_tensor_testing.h"

namespace lpt::formats {
namespace {

std::vector<float> sample(const char* dist, int64_t n, uint64_t seed) {
  RandomStream rs(seed, 1);
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double u1 = std::max<double>(rs.uniform(uint64_t(2 * i)), 1e-12), u2 = rs.uniform(uint64_t(2 * i + 1));
    if (std::string(dist) == "gaussian")
      x[size_t(i)] = float(std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2));
    else
      x[size_t(i)] = float((u2 < 0.5 ? -1 : 1) * -std::log(u1));  // Laplacian, b = 1
  }
  return x;
}

// Exact quantiles of |X| (stratified, so the data carries no sampling noise), random signs, and a
// tenth of exact zeros, which OCTAV excludes from both counts.
std::vector<float> quantile_sample(const char* dist, int64_t n) {
  std::vector<float> x;
  RandomStream rs(5, 2);
  double t = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double u = (double(i) + 0.5) / double(n);
    if (std::string(dist) == "laplacian") {
      t = -std::log1p(-u);  // |X| ~ Exp(1)
    } else {
      for (int k = 0; k < 50; ++k) {  // |X| ~ half-normal: solve erf(t/√2) = u (Newton, increasing u)
        const double step = (u - std::erf(t / M_SQRT2)) / (M_SQRT2 / std::sqrt(M_PI) * std::exp(-t * t / 2));
        t += step;
        if (std::fabs(step) < 1e-12 * t) break;
      }
    }
    x.push_back(float(rs.uniform(uint64_t(i)) < 0.5 ? -t : t));
    if (i % 9 == 0) x.push_back(0.0f);
  }
  return x;
}

// argmin_s J(s) over a grid of 20000 points in (0, max], refined by 2000 points around the best;
// J from prefix sums over the sorted nonzero |x|.
class BruteForceOctav {
 public:
  explicit BruteForceOctav(const std::vector<float>& x) {
    for (float v : x)
      if (v != 0) a_.push_back(std::fabs(double(v)));
    std::sort(a_.begin(), a_.end());
    s1_.assign(a_.size() + 1, 0);
    s2_.assign(a_.size() + 1, 0);
    for (size_t i = 0; i < a_.size(); ++i) s1_[i + 1] = s1_[i] + a_[i], s2_[i + 1] = s2_[i] + a_[i] * a_[i];
  }
  double argmin(double c) const {
    const double step = a_.back() / 20000;
    const double coarse = argmin(c, step, a_.back(), 20000);
    return argmin(c, std::max(step, coarse - 2 * step), coarse + 2 * step, 2000);
  }

 private:
  double J(double s, double c) const {
    const size_t n = a_.size(), k = size_t(std::upper_bound(a_.begin(), a_.end(), s) - a_.begin());
    const double cnt = double(n - k), sa = s1_[n] - s1_[k], sa2 = s2_[n] - s2_[k];
    return c * s * s * double(k) + sa2 - 2 * s * sa + s * s * cnt;
  }
  double argmin(double c, double lo, double hi, int points) const {
    double best = lo, bj = J(lo, c);
    for (int i = 1; i < points; ++i) {
      const double s = lo + (hi - lo) * i / (points - 1), j = J(s, c);
      if (j < bj) bj = j, best = s;
    }
    return best;
  }
  std::vector<double> a_, s1_, s2_;
};

TEST(FormatClipping, PercentileIsTheNearestRankOrderStatisticOfAbs) {
  std::vector<float> x(100);
  for (int i = 0; i < 100; ++i) x[size_t(i)] = float((i % 2 ? -1 : 1) * ((i * 37) % 100 + 1));  // ±1..100 shuffled
  EXPECT_EQ(percentile_abs(x.data(), 100, 100), 100);
  EXPECT_EQ(percentile_abs(x.data(), 100, 99), 99);
  EXPECT_EQ(percentile_abs(x.data(), 100, 98.5), 99);  // rank ceil(98.5) = 99
  EXPECT_EQ(percentile_abs(x.data(), 100, 50), 50);
  EXPECT_EQ(percentile_abs(x.data(), 100, 0.5), 1);
  EXPECT_THROW(percentile_abs(x.data(), 100, 0), Error);
  EXPECT_THROW(percentile_abs(x.data(), 100, 101), Error);
}

TEST(FormatClipping, MseFindsTheBestOfTheHundredCandidates) {
  std::vector<float> x = sample("gaussian", 20000, 3);
  x[17] = 40;  // an outlier that max clipping would waste the grid on
  for (const UniformGrid grid : {UniformGrid{4, true}, UniformGrid{3, true}, UniformGrid{4, false}}) {
    std::vector<float> d = x;
    if (!grid.is_signed)
      for (float& v : d) v = std::fabs(v);
    float amax = 0;
    for (float v : d) amax = std::max(amax, std::fabs(v));
    // Brute force with the real quantizer, in double.
    double best_err = INFINITY;
    float best = 0;
    const float qmax = float(grid.qmax());
    for (int k = 1; k <= 100; ++k) {
      const float clip = float(double(amax) * k / 100), s = clip / qmax;
      double err = 0;
      for (float v : d) {
        const float q = std::min(std::max(std::nearbyint(v / s), grid.is_signed ? -qmax : 0.0f), qmax);
        err += std::pow(double(v) - double(q * s), 2);
      }
      if (err < best_err) best_err = err, best = clip;
    }
    EXPECT_EQ(mse_clip(d.data(), int64_t(d.size()), grid), best);
    EXPECT_LT(best, amax / 4);
  }
  EXPECT_EQ(mse_clip(std::vector<float>(5, 0.0f).data(), 5, {4, true}), 0.0f);
}

// OCTAV's fixed point against the brute-force minimiser of J, at every bit width from 2 to 8,
// each with the bound it meets (printed, with the excess of J, so the report shows them). The
// fixed point drops the c·s²·density term of J's derivative, which puts it above the minimiser:
// SPEC §3's 0.5% holds from 4 bits; at 3 bits the clip is up to 1.2% high (Gaussian), at 2 bits
// 3.0%. J is flat near its minimum: the excess is 0.35% at 2 bits, 0.08% at 3, 0.014% at 4.
TEST(FormatClipping, OctavFixedPointAgainstJsMinimiserAtEveryBitWidth) {
  struct Bound {
    int bits;
    double clip, objective;  // |s/s* − 1| and J(s)/J(s*) − 1
  };
  const Bound bounds[] = {{2, 0.035, 5e-3}, {3, 0.015, 1.5e-3}, {4, 0.005, 2e-4}, {5, 0.005, 5e-5},
                          {6, 0.005, 5e-5}, {7, 0.005, 5e-5}, {8, 0.005, 5e-5}};
  for (const char* dist : {"gaussian", "laplacian"}) {
    const std::vector<float> x = quantile_sample(dist, 200000);
    const BruteForceOctav brute(x);
    for (const Bound& b : bounds) {
      const UniformGrid grid{b.bits, true};
      const double c = octav_noise_constant(grid);
      const OctavResult r = octav_clip(x.data(), int64_t(x.size()), grid);
      const double best = brute.argmin(c);
      const double clip_off = r.s / best - 1;
      const double j_excess = octav_objective(x.data(), int64_t(x.size()), r.s, c) /
                                  octav_objective(x.data(), int64_t(x.size()), best, c) -
                              1;
      std::printf("OCTAV %-9s %d bits: s/s* - 1 = %+.4f%% (bound %.1f%%), J excess %.5f%% (bound %.2f%%), %d iterations\n",
                  dist, b.bits, 100 * clip_off, 100 * b.clip, 100 * j_excess, 100 * b.objective, r.iterations);
      EXPECT_LE(std::abs(clip_off), b.clip) << dist << " " << b.bits << " bits: s " << r.s << " vs " << best;
      EXPECT_LE(j_excess, b.objective) << dist << " " << b.bits << " bits";
      EXPECT_LE(r.iterations, 20);
    }
  }
}

TEST(FormatClipping, OctavWarmStartsEmptySetsAndThreads) {
  const std::vector<float> x = sample("laplacian", 50000, 2);
  const UniformGrid grid{4, true};
  const OctavResult cold = octav_clip(x.data(), 50000, grid);
  EXPECT_GT(cold.iterations, 2);
  const OctavResult warm = octav_clip(x.data(), 50000, grid, cold.s);
  EXPECT_EQ(warm.iterations, 1);
  EXPECT_NEAR(warm.s, cold.s, 1e-4 * cold.s);
  // A warm start above every |x| empties the upper set: restart from the mean.
  EXPECT_NEAR(octav_clip(x.data(), 50000, grid, 1e9f).s, cold.s, 1e-3 * cold.s);
  // Unsigned uses c = 4^-B/12.
  EXPECT_DOUBLE_EQ(octav_noise_constant({4, false}), std::pow(4.0, -4) / 12);
  EXPECT_DOUBLE_EQ(octav_noise_constant({4, true}), std::pow(4.0, -4) / 3);
  // All zero: 0. All equal nonzero magnitudes: that magnitude.
  EXPECT_EQ(octav_clip(std::vector<float>(10, 0.0f).data(), 10, grid).s, 0.0f);
  const std::vector<float> same = {2, -2, 0, 2, -2};
  EXPECT_EQ(octav_clip(same.data(), 5, grid).s, 2.0f);
  // Same bits for any thread count (sums over fixed chunks).
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const OctavResult one = octav_clip(x.data(), 50000, grid);
  omp_set_num_threads(2);
  const OctavResult two = octav_clip(x.data(), 50000, grid);
  omp_set_num_threads(threads);
  EXPECT_EQ(one.s, two.s);
  // The objective OCTAV minimises, by hand: c = 1, s = 1, |x| = {0.5, 2, 0}: (1 + 1 + 0) / 3.
  const std::vector<float> h = {0.5f, -2, 0};
  EXPECT_DOUBLE_EQ(octav_objective(h.data(), 3, 1.0, 1.0), 2.0 / 3);
}

TEST(FormatClipping, PerChannelClippingThroughTheQuantizer) {
  // [4 channels, 3000]: each channel's OCTAV clip equals octav_clip on that channel alone.
  const int64_t C = 4, K = 3000;
  std::vector<float> all;
  for (int64_t c = 0; c < C; ++c) {
    std::vector<float> ch = sample(c % 2 ? "gaussian" : "laplacian", K, uint64_t(c + 10));
    for (float& v : ch) v *= float(c + 1);
    all.insert(all.end(), ch.begin(), ch.end());
  }
  const Tensor w = Tensor::from_vector({C, K}, all);
  QuantizeStats stats;
  QuantizeOptions o;
  o.channel_axis = 0;
  o.stats = &stats;
  const Format f = Format::parse_text(R"({"type":"int","bits":4,"granularity":"channel","clipping":"octav"})");
  quantize(w, f, o);
  ASSERT_EQ(stats.clip.size(), size_t(C));
  for (int64_t c = 0; c < C; ++c) {
    EXPECT_EQ(stats.clip[size_t(c)], octav_clip(all.data() + c * K, K, {4, true}).s);
    EXPECT_EQ(stats.scale[size_t(c)], stats.clip[size_t(c)] / 7);
  }
  EXPECT_GT(stats.octav_iterations, 1);
  EXPECT_GT(stats.clipped_fraction, 0);
  // Warm-started from those clips, one iteration per channel.
  QuantizeStats again;
  o.stats = &again;
  o.warm_start = stats.clip;
  quantize(w, f, o);
  EXPECT_EQ(again.octav_iterations, 1);
  // The same channels along axis 1 of the transpose (strided groups).
  Tensor wt = Tensor::empty({K, C});
  for (int64_t c = 0; c < C; ++c)
    for (int64_t k = 0; k < K; ++k) wt.data<float>()[k * C + c] = all[size_t(c * K + k)];
  QuantizeStats st;
  QuantizeOptions ot;
  ot.channel_axis = 1;
  ot.stats = &st;
  quantize(wt, f, ot);
  EXPECT_EQ(st.clip, stats.clip);
}

}  // namespace
}  // namespace lpt::formats
