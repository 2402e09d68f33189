#include "core/autograd.h"

#include <gtest/gtest.h>

#include "core/elementwise.h"
#include "core/ops/activation.h"

namespace lpt {
namespace {

// y = x * c, elementwise, as a minimal op for graph tests.
Variable scale(const Variable& x, float c) {
  Tensor out = x.data().clone();
  scale_inplace(out, c);
  return make_result(out, "scale", {x}, [c](std::vector<Variable>& in, const Tensor& dout) {
    Tensor g = dout.clone();
    scale_inplace(g, c);
    in[0].accumulate_grad(g);
  });
}

Variable sum_of(const Variable& a, const Variable& b) {
  return make_result(add(a.data(), b.data()), "add", {a, b}, [](std::vector<Variable>& in, const Tensor& dout) {
    for (Variable& v : in)
      if (v.requires_grad()) v.accumulate_grad(dout);
  });
}

TEST(Autograd, FanOutAccumulatesAndSharedGradientsStayIntact) {
  Variable x(Tensor::full({3}, 1.0f), true, "x");
  // z = 2x + 3x + x (x used three times; the add hands one tensor to two inputs).
  Variable z = sum_of(sum_of(scale(x, 2.0f), scale(x, 3.0f)), x);
  z.backward(Tensor::full({3}, 1.0f));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{6, 6, 6}));
}

TEST(Autograd, SameInputTwiceGetsTwiceTheGradient) {
  Variable x(Tensor::full({2}, 1.0f), true, "x");
  sum_of(x, x).backward(Tensor::full({2}, 1.0f));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{2, 2}));
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  Variable x(Tensor::full({2}, 1.0f), true, "x");
  scale(x, 2.0f).backward(Tensor::full({2}, 1.0f));
  scale(x, 5.0f).backward(Tensor::full({2}, 1.0f));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{7, 7}));
  x.zero_grad();
  EXPECT_FALSE(x.has_grad());
}

TEST(Autograd, GraphIsFreedAfterBackward) {
  Variable x(Tensor::full({2}, 1.0f), true, "x");
  Variable h = scale(x, 2.0f);
  Variable y = scale(h, 3.0f);
  ASSERT_NE(y.node(), nullptr);
  y.backward(Tensor::full({2}, 1.0f));
  EXPECT_EQ(y.node(), nullptr);
  EXPECT_EQ(h.node(), nullptr);
  EXPECT_FALSE(h.has_grad());  // intermediate gradients are released
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{6, 6}));
}

TEST(Autograd, IntermediatesHeldOnlyByTheGraphSurviveBackward) {
  // The chain's intermediates are referenced only by the nodes that consume them; freeing a node
  // during backward must not free a variable still to be processed.
  Variable x(Tensor::full({4}, 1.0f), true, "x");
  Variable y = x;
  for (int i = 0; i < 50; ++i) y = ops::relu(scale(y, 1.0f));
  y.backward(Tensor::full({4}, 1.0f));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{1, 1, 1, 1}));
}

TEST(Autograd, DeepGraphsDoNotOverflowTheStack) {
  Variable x(Tensor::full({1}, 1.0f), true, "x");
  Variable y = x;
  for (int i = 0; i < 20000; ++i) y = scale(y, 1.0f);
  y.backward();
  EXPECT_EQ(x.grad().item(), 1.0f);
}

TEST(Autograd, NoGradRecordsNothing) {
  Variable x(Tensor::full({2}, 1.0f), true, "x");
  Variable y;
  {
    NoGradGuard guard;
    y = scale(x, 2.0f);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.node(), nullptr);
  EXPECT_THROW(y.backward(Tensor::full({2}, 1.0f)), Error);
  EXPECT_TRUE(grad_enabled());
}

TEST(Autograd, BackwardWithoutSeedNeedsOneElement) {
  Variable x(Tensor::full({2}, 1.0f), true, "x");
  EXPECT_THROW(scale(x, 2.0f).backward(), Error);
}

TEST(Autograd, GradientShapeMismatchNamesTheTensor) {
  Variable x(Tensor::full({2}, 1.0f), true, "layer.weight");
  try {
    x.accumulate_grad(Tensor::full({3}, 1.0f));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer.weight"), std::string::npos);
  }
}

}  // namespace
}  // namespace lpt
