#include "layers/init.h"

#include <cmath>
#include <numbers>

#include "core/philox.h"

namespace lpt::init {

void uniform(Tensor& t, float bound, uint64_t seed, const std::string& name) {
  const RandomStream rs(seed, stable_hash(name.c_str()));
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = (2.0f * rs.uniform(uint64_t(i)) - 1.0f) * bound;
}

void normal(Tensor& t, float std, uint64_t seed, const std::string& name) {
  const RandomStream rs(seed, stable_hash(name.c_str()));
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double u1 = 1.0 - double(rs.uniform(2 * uint64_t(i)));  // in (0, 1]
    const double u2 = double(rs.uniform(2 * uint64_t(i) + 1));
    p[i] = float(std * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2));
  }
}

float default_bound(int64_t fan_in) { return fan_in > 0 ? float(1.0 / std::sqrt(double(fan_in))) : 0.0f; }

void kaiming_normal_fan_out(Tensor& t, int64_t fan_out, uint64_t seed, const std::string& name) {
  normal(t, float(std::sqrt(2.0 / double(fan_out))), seed, name);
}

}  // namespace lpt::init
