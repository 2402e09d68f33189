#pragma once
// What Madam and LNS-Madam share (SPEC §5): the per-element normalised gradient and the per-tensor
// bound taken at a parameter's first step.
#include <algorithm>
#include <cmath>

#include "core/tensor.h"

namespace lpt::optim::detail {

// v ← β·v + (1−β)·g²; returns ĝ = clamp(g / √(v / (1 − β^t)), ±g_bound), 0 where that is NaN (0/0).
inline float madam_normalized_gradient(float g, float& v, float beta, float one_minus_beta, float bias_correction,
                                       float g_bound) {
  v = std::fma(one_minus_beta, g * g, beta * v);
  float g_normed = g / std::sqrt(v / bias_correction);
  if (std::isnan(g_normed)) g_normed = 0;  // 0/0: no gradient yet
  return std::clamp(g_normed, -g_bound, g_bound);
}

// p_scale · sqrt(mean(w²)), summed in double in index order (deterministic).
inline float madam_initial_bound(const Tensor& w, double p_scale) {
  const float* x = w.data<float>();
  const int64_t n = w.numel();
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += double(x[i]) * x[i];
  return float(p_scale * std::sqrt(sum / double(std::max<int64_t>(n, 1))));
}

}  // namespace lpt::optim::detail
