#include <gtest/gtest.h>

#include <cmath>
#include <span>

#include "core/ops/activation.h"
#include "tests/support/gradcheck.h"

namespace lpt {
namespace {

using testing::gradcheck;
using testing::random_tensor;

// Inputs kept away from the kinks (0 and 6) by more than the finite-difference step.
Tensor away_from_kinks(const Shape& s, uint64_t seed) {
  Tensor t = random_tensor(s, seed, -8.0f, 8.0f);
  for (float& v : std::span(t.data<float>(), size_t(t.numel())))
    for (float kink : {0.0f, 6.0f})
      if (std::fabs(v - kink) < 0.1f) v = kink + 0.5f;
  return t;
}

TEST(Relu, ForwardMatchesNaiveLoop) {
  const Tensor x = away_from_kinks({2, 3, 4, 5}, 1).to(MemoryFormat::channels_last);
  const Tensor y = ops::relu(Variable(x)).data();
  const std::vector<float> xv = x.to_vector(), yv = y.to_vector();
  for (size_t i = 0; i < xv.size(); ++i) EXPECT_EQ(yv[i], xv[i] > 0 ? xv[i] : 0.0f);
  EXPECT_TRUE(y.is_channels_last());
}

TEST(Relu, GradientMatchesFiniteDifferences) {
  EXPECT_TRUE(gradcheck([](const std::vector<Variable>& v) { return ops::relu(v[0]); },
                        {away_from_kinks({2, 3, 4, 4}, 2).to(MemoryFormat::channels_last)}));
}

TEST(Relu6, ForwardMatchesNaiveLoop) {
  const Tensor x = away_from_kinks({4, 50}, 3);
  const std::vector<float> xv = x.to_vector(), yv = ops::relu6(Variable(x)).data().to_vector();
  for (size_t i = 0; i < xv.size(); ++i) EXPECT_EQ(yv[i], std::min(std::max(xv[i], 0.0f), 6.0f));
}

TEST(Relu6, GradientMatchesFiniteDifferences) {
  EXPECT_TRUE(gradcheck([](const std::vector<Variable>& v) { return ops::relu6(v[0]); },
                        {away_from_kinks({3, 40}, 4)}));
}

// At and beside the kinks, where finite differences cannot look: the gradient passes where the
// ReLU output is > 0 and strictly inside (0, 6) for ReLU6 (PyTorch's conventions), zero at NaN;
// lengths that are no multiple of the mask's eight elements per byte.
TEST(Relu, GradientAtTheKinksAndNaN) {
  const float nan = std::nanf(""), inf = INFINITY;
  const std::vector<float> x = {0.0f, -0.0f, 1e-45f, -1e-45f, 6.0f, 5.999999f, 6.000001f, nan, inf, -inf, 3.0f,
                                -3.0f, 0.0f, 7.0f, 1.0f, -1.0f, 2.0f, 0.5f, 6.0f};
  for (int64_t n : {int64_t(x.size()), int64_t(8), int64_t(3)}) {
    const Tensor xt = Tensor::from_vector({n}, std::vector<float>(x.begin(), x.begin() + n));
    const Tensor ones = Tensor::from_vector({n}, std::vector<float>(size_t(n), 1.0f));
    Variable a(xt, true), b(xt, true);
    ops::relu(a).backward(ones);
    ops::relu6(b).backward(ones);
    const std::vector<float> ga = a.grad().to_vector(), gb = b.grad().to_vector();
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_EQ(ga[size_t(i)], x[size_t(i)] > 0 ? 1.0f : 0.0f) << "relu at " << x[size_t(i)];
      EXPECT_EQ(gb[size_t(i)], x[size_t(i)] > 0 && x[size_t(i)] < 6 ? 1.0f : 0.0f) << "relu6 at " << x[size_t(i)];
    }
  }
}

}  // namespace
}  // namespace lpt
