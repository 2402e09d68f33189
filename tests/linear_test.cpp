#include <gtest/gtest.h>

#include <string>

#include "core/onednn/context.h"
#include "core/ops/linear.h"
#include "core/threads.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_helpers.h"

namespace lpt {
namespace {

using testing::gradcheck;
using testing::max_abs_diff;
using testing::random_tensor;

Tensor naive_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  const std::vector<float> xv = x.to_vector(), wv = w.to_vector();
  const int64_t N = x.size(0), I = x.size(1), O = w.size(0);
  std::vector<float> y(size_t(N * O));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) {
      double s = b.defined() ? b.to_vector()[size_t(o)] : 0.0;
      for (int64_t i = 0; i < I; ++i) s += double(xv[size_t(n * I + i)]) * double(wv[size_t(o * I + i)]);
      y[size_t(n * O + o)] = float(s);
    }
  return Tensor::from_vector({N, O}, y);
}

TEST(Linear, ForwardMatchesNaiveLoop) {
  for (bool bias : {true, false}) {
    const Tensor x = random_tensor({7, 33}, 1), w = random_tensor({10, 33}, 2);
    const Tensor b = bias ? random_tensor({10}, 3) : Tensor();
    const Tensor y = ops::linear(Variable(x), Variable(w), bias ? Variable(b) : Variable()).data();
    EXPECT_TRUE(y.is_contiguous());
    EXPECT_LT(max_abs_diff(y, naive_linear(x, w, b)), 1e-5) << "bias " << bias;
  }
}

TEST(Linear, GradientsMatchFiniteDifferences) {
  EXPECT_TRUE(gradcheck([](const std::vector<Variable>& v) { return ops::linear(v[0], v[1], v[2]); },
                        {random_tensor({3, 6}, 4), random_tensor({5, 6}, 5), random_tensor({5}, 6)}));
  EXPECT_TRUE(gradcheck([](const std::vector<Variable>& v) { return ops::linear(v[0], v[1], Variable()); },
                        {random_tensor({4, 7}, 7), random_tensor({2, 7}, 8)}));
}

TEST(Linear, EachSubsetOfGradientsMatchesFiniteDifferences) {
  const std::vector<Tensor> inputs{random_tensor({3, 5}, 9), random_tensor({4, 5}, 10), random_tensor({4}, 11)};
  auto f = [](const std::vector<Variable>& v) { return ops::linear(v[0], v[1], v[2]); };
  for (const std::vector<bool>& check :
       std::vector<std::vector<bool>>{{true, false, false}, {false, true, false}, {false, false, true}}) {
    testing::GradcheckOptions opt;
    opt.check = check;
    EXPECT_TRUE(gradcheck(f, inputs, opt)) << "x " << check[0] << " w " << check[1] << " b " << check[2];
  }
}

TEST(Linear, UsesBrgemmMatmulKernels) {
  if (onednn::effective_isa().rfind("avx512", 0) != 0)
    GTEST_SKIP() << "oneDNN 2.6's brgemm matmul needs AVX-512; this run is capped at " << onednn::effective_isa();
  Variable x(random_tensor({16, 64}, 12), true), w(random_tensor({10, 64}, 13), true), b(random_tensor({10}, 14), true);
  Variable y = ops::linear(x, w, b);
  y.backward(Tensor::full(y.shape(), 1.0f));
  int seen = 0;
  for (const auto& [what, impl] : onednn::recorded_impls()) {
    if (what.rfind("linear ", 0) != 0) continue;
    ++seen;
    EXPECT_EQ(impl.rfind("brg", 0), 0u) << what << ": " << impl;
  }
  EXPECT_GE(seen, 3);
}

TEST(Linear, BiasGradientIsTheSameForEveryThreadCount) {
  const Tensor dy = random_tensor({1000, 37}, 15);
  std::vector<float> one(37), two(37);
  const int threads = num_threads();
  set_num_threads(1);
  ops::bias_backward(one.data(), dy.data<float>(), 1000, 37);
  set_num_threads(2);
  ops::bias_backward(two.data(), dy.data<float>(), 1000, 37);
  set_num_threads(threads);
  EXPECT_EQ(one, two);
  const std::vector<float> v = dy.to_vector();
  for (int j = 0; j < 37; ++j) {
    double s = 0;
    for (int i = 0; i < 1000; ++i) s += v[size_t(i * 37 + j)];
    EXPECT_NEAR(one[size_t(j)], s, 1e-4);
  }
}

using testing::error_of;

TEST(Linear, ShapeMismatchesNameTheOpAndBothShapes) {
  auto lin = [](const Shape& x, const Shape& w, const Shape& b) {
    return error_of([&] {
      ops::linear(Variable(Tensor::zeros(x)), Variable(Tensor::zeros(w)),
                  b.empty() ? Variable() : Variable(Tensor::zeros(b)));
    });
  };
  EXPECT_EQ(lin({128, 32}, {10, 64}, {}), "linear: weight [10, 64] expects 64 input features, input is [128, 32]");
  EXPECT_EQ(lin({128, 64}, {10, 64}, {64}), "linear: bias [64] does not match weight [10, 64]: expected [10]");
  EXPECT_EQ(lin({128, 64, 1, 1}, {10, 64}, {}), "linear: input [128, 64, 1, 1] must be 2-D [N, in_features]");
  EXPECT_EQ(lin({128, 64}, {10, 64, 1}, {}), "linear: weight [10, 64, 1] must be 2-D [out_features, in_features]");
}

}  // namespace
}  // namespace lpt
