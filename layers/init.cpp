#include "layers/init.h"

#include <cmath>
#include <numbers>

#include "core/philox.h"

namespace lpt::init {

// Element i takes lane i % 4 of Philox block i / 4, so values do not depend on the thread count.
void uniform(Tensor& t, float bound, uint64_t seed, const std::string& name) {
  const RandomStream rs(seed, stable_hash(name.c_str()));
  float* p = t.data<float>();
  const int64_t n = t.numel();
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < (n + 3) / 4; ++b) {
    const auto bits = rs.bits4(uint64_t(b));
    for (int64_t k = 0; k < 4 && 4 * b + k < n; ++k) p[4 * b + k] = (2.0f * uniform01(bits[size_t(k)]) - 1.0f) * bound;
  }
}

// Box-Muller: the two uniform pairs of Philox block i / 4 give four normals (cos and sin of each).
void normal(Tensor& t, float std, uint64_t seed, const std::string& name) {
  const RandomStream rs(seed, stable_hash(name.c_str()));
  float* p = t.data<float>();
  const int64_t n = t.numel();
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < (n + 3) / 4; ++b) {
    const auto bits = rs.bits4(uint64_t(b));
    for (int64_t k = 0; k < 4 && 4 * b + k < n; ++k) {
      const size_t pair = size_t(k / 2) * 2;
      const double u1 = 1.0 - double(uniform01(bits[pair]));  // in (0, 1]
      const double angle = 2.0 * std::numbers::pi * double(uniform01(bits[pair + 1]));
      const double r = std::sqrt(-2.0 * std::log(u1));
      p[4 * b + k] = float(std * r * (k % 2 == 0 ? std::cos(angle) : std::sin(angle)));
    }
  }
}

float default_bound(int64_t fan_in) { return fan_in > 0 ? float(1.0 / std::sqrt(double(fan_in))) : 0.0f; }

void kaiming_normal_fan_out(Tensor& t, int64_t fan_out, uint64_t seed, const std::string& name) {
  normal(t, float(std::sqrt(2.0 / double(fan_out))), seed, name);
}

}  // namespace lpt::init
