#include "tests/support/format_kernel_testing.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>
#include <utility>

#include "core/philox.h"

namespace lpt::formats::testing {

BufferLayout layout(int64_t outer, int64_t len, int64_t inner) {
  return {RunGeometry{outer, len, inner}, RunGeometry{1, 1, outer * len * inner}, false};
}
BufferLayout flat(int64_t n) { return layout(1, n, 1); }

QuantizeOptions nearest() { return {}; }
QuantizeOptions stochastic_rounding(const char* tensor_key, uint64_t seed, uint64_t step) {
  QuantizeOptions o;
  o.rounding.mode = Rounding::stochastic;
  o.rounding.seed = seed;
  o.rounding.step = step;
  o.rounding.tensor_id = stable_hash(tensor_key);
  return o;
}

::testing::AssertionResult same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << "sizes " << a.size() << " vs " << b.size();
  for (size_t i = 0; i < a.size(); ++i)
    if (std::bit_cast<uint32_t>(a[i]) != std::bit_cast<uint32_t>(b[i]))
      return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs " << b[i];
  return ::testing::AssertionSuccess();
}

std::vector<std::vector<size_t>> blocks_of(const RunGeometry& g, int64_t block_size) {
  std::vector<std::vector<size_t>> blocks;
  for (int64_t o = 0; o < g.outer; ++o)
    for (int64_t i = 0; i < g.inner; ++i)
      for (int64_t j0 = 0; j0 < g.len; j0 += block_size) {
        std::vector<size_t>& block = blocks.emplace_back();
        for (int64_t j = j0; j < std::min(g.len, j0 + block_size); ++j) block.push_back(size_t((o * g.len + j) * g.inner + i));
      }
  return blocks;
}

std::vector<float> binade_spread(size_t n, uint64_t seed, const BinadeSpread& s) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> binade(-s.max_binade, s.max_binade), kind(0, s.kinds);
  std::vector<float> x(n);
  float scale = 1;
  for (size_t i = 0; i < n; ++i) {
    if (i % s.period == 0) scale = std::ldexp(1.0f, binade(rng));
    switch (kind(rng)) {
      case 0: x[i] = 0.0f; break;
      case 1: x[i] = std::ldexp(1.0f, binade(rng) / s.pow2_divisor) * scale; break;
      case 2: x[i] = (float(binade(rng)) + 0.5f) * scale / s.tie_divisor; break;
      default: x[i] = normal(rng) * scale;
    }
  }
  return x;
}

std::vector<float> negated(const std::vector<float>& x) {
  std::vector<float> neg(x.size());
  for (size_t i = 0; i < x.size(); ++i) neg[i] = -x[i];
  return neg;
}

::testing::AssertionResult sign_symmetric(const std::vector<float>& y, const std::vector<float>& yn) {
  if (y.size() != yn.size()) return ::testing::AssertionFailure() << "sizes " << y.size() << " vs " << yn.size();
  for (size_t i = 0; i < y.size(); ++i)
    if (!(yn[i] == -y[i])) return ::testing::AssertionFailure() << "Q(−x) = " << yn[i] << " but Q(x) = " << y[i] << " at " << i;
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult monotone(const std::vector<float>& x, const std::vector<float>& y, size_t begin,
                                    size_t end) {
  end = std::min(end, x.size());
  std::vector<std::pair<float, float>> xy;
  for (size_t i = begin; i < end; ++i) xy.emplace_back(x[i], y[i]);
  std::sort(xy.begin(), xy.end());
  for (size_t i = 1; i < xy.size(); ++i)
    if (!(xy[i - 1].second <= xy[i].second))
      return ::testing::AssertionFailure() << "Q(" << xy[i - 1].first << ") = " << xy[i - 1].second << " > Q("
                                           << xy[i].first << ") = " << xy[i].second;
  return ::testing::AssertionSuccess();
}

std::vector<float> swap_inner_axes(const std::vector<float>& x, int64_t outer, int64_t a, int64_t b) {
  std::vector<float> t(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < a; ++i)
      for (int64_t j = 0; j < b; ++j) t[size_t((o * b + j) * a + i)] = x[size_t((o * a + i) * b + j)];
  return t;
}

std::vector<double> rounding_errors(const std::vector<float>& x, const std::vector<float>& y, size_t block) {
  std::vector<double> err;
  for (size_t i = 0; i < x.size(); ++i)
    if (block == 0 || i % block) err.push_back(double(y[i]) - double(x[i]));
  return err;
}

double z_score(const std::vector<double>& err) {
  double mean = 0, sq = 0;
  for (double e : err) mean += e;
  mean /= double(err.size());
  for (double e : err) sq += (e - mean) * (e - mean);
  const double se = std::sqrt(sq / double(err.size() - 1) / double(err.size()));
  return se == 0 ? (mean == 0 ? 0 : INFINITY) : mean / se;
}

}  // namespace lpt::formats::testing
