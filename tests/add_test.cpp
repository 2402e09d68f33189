#include <gtest/gtest.h>

#include "core/ops/add.h"
#include "tests/support/gradcheck.h"

namespace lpt {
namespace {

using testing::gradcheck;
using testing::random_tensor;

TEST(Add, ForwardMatchesNaiveLoopInFirstOperandsLayout) {
  const Tensor a = random_tensor({2, 3, 4, 5}, 1, -1, 1, MemoryFormat::channels_last);
  const Tensor b = random_tensor({2, 3, 4, 5}, 2);  // contiguous: reordered to a's layout
  const Tensor y = ops::add(Variable(a), Variable(b)).data();
  EXPECT_TRUE(y.is_channels_last());
  const std::vector<float> av = a.to_vector(), bv = b.to_vector(), yv = y.to_vector();
  for (size_t i = 0; i < av.size(); ++i) EXPECT_EQ(yv[i], av[i] + bv[i]) << i;
}

TEST(Add, GradientMatchesFiniteDifferences) {
  EXPECT_TRUE(gradcheck([](const std::vector<Variable>& v) { return ops::add(v[0], v[1]); },
                        {random_tensor({2, 3, 3, 4}, 3, -1, 1, MemoryFormat::channels_last),
                         random_tensor({2, 3, 3, 4}, 4)}));
}

TEST(Add, SameInputTwiceGetsTwiceTheGradient) {
  Variable x(random_tensor({3, 7}, 5), true, "x");
  Variable y = ops::add(x, x);
  const Tensor dout = random_tensor({3, 7}, 6);
  y.backward(dout);
  const std::vector<float> g = x.grad().to_vector(), d = dout.to_vector();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_EQ(g[i], 2 * d[i]) << i;
}

TEST(Add, OnlyInputsThatNeedAGradientGetOne) {
  Variable a(random_tensor({4, 4}, 7), true, "a"), b(random_tensor({4, 4}, 8), false, "b");
  ops::add(a, b).backward(Tensor::full({4, 4}, 1.0f));
  EXPECT_TRUE(a.has_grad());
  EXPECT_FALSE(b.has_grad());
}

TEST(Add, ShapeMismatchNamesBothShapes) {
  try {
    ops::add(Variable(Tensor::zeros({2, 3})), Variable(Tensor::zeros({3, 2})));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "add: shapes [2, 3] and [3, 2] differ; a residual add needs equal shapes");
  }
}

}  // namespace
}  // namespace lpt
