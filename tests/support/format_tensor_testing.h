#pragma once
// Helpers shared by the format tests: data with the features quantizers trip on (exact zeros,
// outliers, ties), bitwise tensor comparison, and a reference INT quantizer written straight from
// SPEC §1.1 over logical indices.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include "formats/format.h"
#include "formats/quantize.h"
#include "tests/support/gradcheck.h"

namespace lpt::formats::testing {

// Uniform in [−1, 1) with every 7th value zero and every 23rd value ×8 (an outlier).
inline Tensor bumpy_tensor(const Shape& shape, uint64_t seed, MemoryFormat mf = MemoryFormat::contiguous) {
  Tensor t = lpt::testing::random_tensor(shape, seed, -1.0f, 1.0f);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (i % 7 == 3) p[i] = 0.0f;
    if (i % 23 == 5) p[i] *= 8.0f;
  }
  return t.to(mf);
}

// Same shape and bit-identical values (in logical order); -0 and +0 differ.
inline ::testing::AssertionResult bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape())
    return ::testing::AssertionFailure() << "shapes " << shape_str(a.shape()) << " and " << shape_str(b.shape());
  const std::vector<float> va = a.to_vector(), vb = b.to_vector();
  for (size_t i = 0; i < va.size(); ++i)
    if (std::memcmp(&va[i], &vb[i], sizeof(float)) != 0)
      return ::testing::AssertionFailure() << "element " << i << ": " << va[i] << " vs " << vb[i];
  return ::testing::AssertionSuccess();
}

inline std::vector<int64_t> coords_of(int64_t i, const Shape& shape) {
  std::vector<int64_t> c(shape.size());
  for (int d = int(shape.size()) - 1; d >= 0; --d) {
    c[size_t(d)] = i % shape[size_t(d)];
    i /= shape[size_t(d)];
  }
  return c;
}

// SPEC §1.1 literally: group the logical elements, take scales, q = clamp(RNE(x/scale)).
inline std::vector<float> reference_int(const std::vector<float>& x, const Shape& shape, const IntParams& p,
                                        bool is_signed, int axis, std::optional<int> channel_axis) {
  const int nd = int(shape.size());
  axis = (axis + nd) % nd;
  if (channel_axis) channel_axis = (*channel_axis + nd) % nd;
  const float qmax = float(is_signed ? (1 << (p.bits - 1)) - 1 : (1 << p.bits) - 1);
  const float lo = is_signed ? -qmax : 0.0f;
  const auto code = [&](float v, float scale) { return std::min(std::max(std::nearbyint(v / scale), lo), qmax); };
  std::vector<float> y(x.size());
  // Scale groups (tensor or channel) and vectors, as lists of element indices.
  std::map<int64_t, std::vector<int64_t>> groups;
  std::map<std::vector<int64_t>, std::vector<int64_t>> vectors;
  for (int64_t i = 0; i < int64_t(x.size()); ++i) {
    std::vector<int64_t> c = coords_of(i, shape);
    groups[channel_axis ? c[size_t(*channel_axis)] : 0].push_back(i);
    c[size_t(axis)] /= p.vector_size;
    vectors[c].push_back(i);
  }
  const auto abs_max = [&](const std::vector<int64_t>& idx) {
    float m = 0;
    for (int64_t i : idx) m = std::max(m, std::fabs(x[size_t(i)]));
    return m;
  };
  if (p.granularity != IntGranularity::vector) {
    for (const auto& [g, idx] : groups) {
      const float s = abs_max(idx) / qmax;
      for (int64_t i : idx) y[size_t(i)] = s == 0 ? 0.0f : code(x[size_t(i)], s) * s;
    }
    return y;
  }
  std::map<int64_t, float> gamma;  // two-level: γ per group = max_v(s_v) / (2^M − 1)
  const float smax = float((1 << p.scale_bits) - 1);
  for (const auto& [g, idx] : groups) {
    const float v = (abs_max(idx) / qmax) / smax;
    gamma[g] = v > 0 ? v : 1.0f;
  }
  for (const auto& [key, idx] : vectors) {
    const float sv = abs_max(idx) / qmax;
    for (int64_t i : idx) {
      if (p.scale_bits == 0) {
        y[size_t(i)] = sv == 0 ? 0.0f : code(x[size_t(i)], sv) * sv;
      } else {
        const float g = gamma[channel_axis ? coords_of(i, shape)[size_t(*channel_axis)] : 0];
        const float S = std::min(std::max(std::nearbyint(sv / g), 1.0f), smax);
        y[size_t(i)] = (code(x[size_t(i)], S * g) * S) * g;
      }
    }
  }
  return y;
}

}  // namespace lpt::formats::testing
