#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/ops/loss.h"
#include "tests/support/gradcheck.h"

namespace lpt {
namespace {

using testing::gradcheck;
using testing::random_tensor;

Tensor labels_tensor(const std::vector<int32_t>& v) {
  Tensor t = Tensor::empty({int64_t(v.size())}, DType::s32);
  std::copy(v.begin(), v.end(), t.data<int32_t>());
  return t;
}

// The naive definition, in double: loss_n = Σ_k t_k (log Σ_j exp z_j - z_k).
double naive_cross_entropy(const Tensor& logits, const std::vector<int32_t>& labels, double eps) {
  const std::vector<float> z = logits.to_vector();
  const int64_t N = logits.size(0), K = logits.size(1);
  double total = 0;
  for (int64_t n = 0; n < N; ++n) {
    double sum_exp = 0;
    for (int64_t k = 0; k < K; ++k) sum_exp += std::exp(double(z[n * K + k]));
    for (int64_t k = 0; k < K; ++k) {
      const double target = (k == labels[n] ? 1 - eps : 0) + eps / K;
      total += target * (std::log(sum_exp) - z[n * K + k]);
    }
  }
  return total / N;
}

TEST(SoftmaxCrossEntropy, ForwardMatchesNaiveLoop) {
  const Tensor z = random_tensor({6, 7}, 1, -3, 3);
  const std::vector<int32_t> y = {0, 6, 3, 3, 1, 5};
  for (float eps : {0.0f, 0.2f}) {
    const float loss = ops::softmax_cross_entropy(Variable(z), labels_tensor(y), eps).data().item();
    EXPECT_NEAR(loss, naive_cross_entropy(z, y, eps), 1e-5) << "eps = " << eps;
  }
}

// Reference values from PyTorch 1.13 (/usr/bin/python3):
//   logits = torch.tensor([[1.5, -0.3, 2.2, 0.0, -1.1], [0.7, 0.7, -2.0, 3.1, 0.4],
//                          [-0.5, 1.2, 0.9, -1.6, 2.4]], requires_grad=True)
//   labels = torch.tensor([2, 0, 4])
//   for eps in (0.0, 0.1):
//       logits.grad = None
//       loss = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=eps); loss.backward()
//       print(loss.item(), logits.grad.flatten().tolist())
TEST(SoftmaxCrossEntropy, MatchesPyTorch) {
  const Tensor z = Tensor::from_vector({3, 5}, {1.5f, -0.3f, 2.2f, 0.0f, -1.1f, 0.7f, 0.7f, -2.0f, 3.1f, 0.4f,
                                                -0.5f, 1.2f, 0.9f, -1.6f, 2.4f});
  const Tensor y = labels_tensor({2, 0, 4});
  struct Case {
    float eps, loss;
    std::vector<float> grad;
  };
  const Case cases[] = {
      {0.0f, 1.21382737159729f,
       {0.09588312f, 0.01584937f, -0.14024846f, 0.02139441f, 0.00712158f, -0.30923325f, 0.0241001f, 0.00161966f,
        0.26565969f, 0.0178538f, 0.01147994f, 0.06284057f, 0.04655344f, 0.00382134f, -0.12469529f}},
      {0.1f, 1.3398274183273315f,
       {0.08921643f, 0.0091827f, -0.1135818f, 0.01472774f, 0.00045491f, -0.28256655f, 0.01743343f, -0.00504701f,
        0.25899297f, 0.01118713f, 0.00481327f, 0.05617389f, 0.03988677f, -0.00284533f, -0.0980286f}},
  };
  for (const Case& c : cases) {
    Variable logits(z, true, "logits");
    Variable loss = ops::softmax_cross_entropy(logits, y, c.eps);
    EXPECT_EQ(loss.data().numel(), 1);
    EXPECT_NEAR(loss.data().item(), c.loss, 1e-6) << "eps = " << c.eps;
    loss.backward();
    const std::vector<float> g = logits.grad().to_vector();
    for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], c.grad[i], 1e-6) << "eps = " << c.eps << " i = " << i;
  }
}

TEST(SoftmaxCrossEntropy, GradientMatchesFiniteDifferences) {
  const Tensor y = labels_tensor({1, 0, 4, 4});
  for (float eps : {0.0f, 0.1f}) {
    EXPECT_TRUE(gradcheck(
        [&](const std::vector<Variable>& v) { return ops::softmax_cross_entropy(v[0], y, eps); },
        {random_tensor({4, 5}, 2, -2, 2)}))
        << "eps = " << eps;
  }
}

// Subtracting the row maximum keeps huge logits finite: log-softmax of (1000, 0, -1000) is (0, -1000, -2000).
TEST(SoftmaxCrossEntropy, HugeLogitsStayFinite) {
  const Tensor z = Tensor::from_vector({2, 3}, {1000, 0, -1000, 1000, 0, -1000});
  const float loss = ops::softmax_cross_entropy(Variable(z), labels_tensor({0, 1})).data().item();
  EXPECT_FLOAT_EQ(loss, 500.0f);
}

TEST(SoftmaxCrossEntropy, BadLabelNamesLabelAndIndex) {
  const Variable z(Tensor::zeros({3, 4}));
  try {
    ops::softmax_cross_entropy(z, labels_tensor({0, 3, 4}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "softmax_cross_entropy: label 4 at index 2 is outside [0, 4)");
  }
  EXPECT_THROW(ops::softmax_cross_entropy(z, labels_tensor({0, -1, 0})), Error);
}

TEST(SoftmaxCrossEntropy, ShapeAndDtypeErrors) {
  try {
    ops::softmax_cross_entropy(Variable(Tensor::zeros({3, 4})), labels_tensor({0, 1}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "softmax_cross_entropy: labels has shape [2], expected [3]");
  }
  try {
    ops::softmax_cross_entropy(Variable(Tensor::zeros({3, 4, 1})), labels_tensor({0, 1, 2}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "softmax_cross_entropy: logits f32[3, 4, 1] should be [N, K] with N, K >= 1");
  }
  EXPECT_THROW(ops::softmax_cross_entropy(Variable(Tensor::zeros({3, 4})), Tensor::zeros({3})), Error);
}

TEST(CountCorrect, MatchesNaiveArgmaxWithTiesToLowestIndex) {
  const Tensor z = Tensor::from_vector({4, 3}, {0.1f, 0.9f, 0.3f,    // argmax 1
                                                0.5f, 0.5f, 0.2f,    // tie: 0
                                                -1.0f, -2.0f, 4.0f,  // 2
                                                0.7f, 0.2f, 0.7f});  // tie: 0
  EXPECT_EQ(ops::count_correct(z, labels_tensor({1, 0, 2, 0})), 4);
  EXPECT_EQ(ops::count_correct(z, labels_tensor({1, 1, 2, 2})), 2);
  EXPECT_EQ(ops::count_correct(z, labels_tensor({0, 2, 1, 1})), 0);
}

TEST(CountCorrect, AgreesWithNaiveLoopOnRandomLogits) {
  const int64_t N = 300, K = 10;
  const Tensor z = random_tensor({N, K}, 3);
  std::vector<int32_t> y(N);
  for (int64_t n = 0; n < N; ++n) y[n] = int32_t((n * 7) % K);
  const std::vector<float> zv = z.to_vector();
  int64_t expected = 0;
  for (int64_t n = 0; n < N; ++n)
    expected += std::max_element(zv.begin() + n * K, zv.begin() + (n + 1) * K) - (zv.begin() + n * K) == y[n];
  EXPECT_EQ(ops::count_correct(z, labels_tensor(y)), expected);
}

}  // namespace
}  // namespace lpt
