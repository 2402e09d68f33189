// Madam (SPEC §5) against a straightforward double-precision reference of the formula, and its
// invariants: signs never change, zeros never move, weights stay within ±bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "optimizers/madam.h"
#include "tests/support/gradcheck.h"
#include "tests/support/multiplicative_updates.h"

namespace lpt::optim {
namespace {

using testing::random_tensor;

// SPEC §5, per element in double: v ← β·v + (1−β)·g²; v̂ = v/(1−β^t); ĝ = g/√v̂ (NaN → 0),
// clamped to ±g_bound; w ← w·exp(−η·sign(w)·ĝ); w ← clamp(w, ±bound), bound = p_scale·RMS(w₀).
struct MadamReference {
  MadamOptions o;
  std::vector<double> w, v;
  double bound = 0;
  int t = 0;

  MadamReference(const Tensor& w0, MadamOptions options) : o(options) {
    for (float x : w0.to_vector()) w.push_back(x);
    v.assign(w.size(), 0.0);
    double sq = 0;
    for (double x : w) sq += x * x;
    bound = o.p_scale * std::sqrt(sq / double(w.size()));
  }
  void step(const Tensor& grad, double lr) {
    const std::vector<float> g = grad.to_vector();
    ++t;
    for (size_t i = 0; i < w.size(); ++i) {
      v[i] = o.beta * v[i] + (1 - o.beta) * double(g[i]) * g[i];
      double gn = g[i] / std::sqrt(v[i] / (1 - std::pow(o.beta, t)));
      if (std::isnan(gn)) gn = 0;
      gn = std::clamp(gn, -o.g_bound, o.g_bound);
      const double sign = w[i] > 0 ? 1 : (w[i] < 0 ? -1 : 0);
      w[i] = std::clamp(w[i] * std::exp(-lr * sign * gn), -bound, bound);
    }
  }
};

TEST(OptimizerMadam, MatchesDoubleReference) {
  const MadamOptions o{.lr = 0.05};
  Variable w(random_tensor({6, 7}, 11), true, "w");
  const std::vector<float> w0 = w.data().to_vector();
  MadamReference ref(w.data(), o);
  Madam madam({w}, o);
  for (int s = 0; s < 6; ++s) {
    Tensor g = random_tensor({6, 7}, 20 + uint64_t(s), -1e-2f, 1e-2f);
    if (s == 0)
      for (int i = 0; i < 42; i += 5) g.data<float>()[i] = 0;  // 0/0 on the first step: no move
    const double lr = 0.05 * (1 - 0.1 * s);
    madam.set_lr(0, lr);
    w.zero_grad();
    w.accumulate_grad(g);
    madam.step();
    ref.step(g, lr);
    const std::vector<float> got = w.data().to_vector();
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], ref.w[i], 2e-6 * std::abs(ref.w[i])) << "step " << s << " element " << i;
    for (int i = 0; s == 0 && i < 42; i += 5) EXPECT_EQ(got[size_t(i)], w0[size_t(i)]) << "zero gradient moved " << i;
  }
  EXPECT_EQ(madam.state().scalars.at(0).second, 6);
}

// Large steps that push every weight outwards run into ±bound and stop there.
TEST(OptimizerMadam, ClampsToInitialBound) {
  const std::vector<float> w0{1.0f, -0.5f, 0.25f, 0.0f, -2.0f, 0.125f};
  Variable w(Tensor::from_vector({6}, w0), true, "w");
  const MadamOptions o{.lr = 0.5, .p_scale = 1.5};
  Madam madam({w}, o);
  double sq = 0;
  for (float x : w0) sq += double(x) * x;
  const float bound = float(1.5 * std::sqrt(sq / 6));
  for (int s = 0; s < 30; ++s) {
    std::vector<float> g(6);
    for (int i = 0; i < 6; ++i) g[i] = w0[i] > 0 ? -1.0f : 1.0f;  // −sign(w): grow |w|
    w.zero_grad();
    w.accumulate_grad(Tensor::from_vector({6}, g));
    madam.step();
  }
  const std::vector<float> got = w.data().to_vector();
  for (int i = 0; i < 6; ++i) {
    if (w0[i] == 0) {
      EXPECT_EQ(got[i], 0.0f);
    } else {
      EXPECT_EQ(got[i], w0[i] > 0 ? bound : -bound) << i;  // 30 steps of e^0.5 reach the bound
    }
  }
  EXPECT_EQ(madam.state().tensors.at(1).second.item(), bound);
}

TEST(OptimizerMadam, NeverChangesSignsNorMovesZeros) {
  std::unique_ptr<Madam> madam;
  testing::expect_signs_kept_and_zeros_fixed(
      [&](Variable& w) {
        madam = std::make_unique<Madam>(std::vector<Variable>{w}, MadamOptions{.lr = 0.3});
        return [&] { madam->step(); };
      },
      false);
}

}  // namespace
}  // namespace lpt::optim
