// Models end to end: output shapes for MNIST- and CIFAR-shaped inputs, gradients reaching every
// parameter, and logits equal to PyTorch's for the same weights (the wiring: strides, paddings,
// shortcuts, where ReLU/ReLU6 sit, pooling, flatten order).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "core/ops/loss.h"
#include "models/models.h"
#include "tests/support/gradcheck.h"

namespace lpt {
namespace {

using testing::random_tensor;

Variable input(int64_t batch, int64_t channels, int64_t size, uint64_t seed) {
  return Variable(random_tensor({batch, channels, size, size}, seed, -1.0f, 1.0f, MemoryFormat::channels_last));
}

// Element i of parameter k (state_dict order): an integer hash mapped to [-0.2, 0.2), the same bits
// as gen.py's pseudo_random, exact on both sides. Deterministic, well-conditioned weights (a plain
// sine makes every weight matrix rank 2 and ResNet-50's logits ill-conditioned) that cost far less
// than make_model's random draws for the big ResNets.
float pseudo_random(uint64_t i, uint64_t k) {
  uint64_t u = i * 0x9E3779B97F4A7C15ull + k * 0xBF58476D1CE4E5B9ull + 1;
  u = (u ^ (u >> 31)) * 0x94D049BB133111EBull;
  u ^= u >> 29;
  return float((double(u >> 40) / 16777216.0 - 0.5) * 0.4);
}

void fill_pseudo_random(Module& m) {
  uint64_t k = 0;
  for (const auto& [name, p] : m.named_parameters()) {
    float* w = p.data().data<float>();
    for (int64_t i = 0; i < p.data().numel(); ++i) w[i] = pseudo_random(uint64_t(i), k);
    ++k;
  }
}

class ModelForward : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelForward, MnistAndCifarShapedInputsGiveOneRowOfLogitsPerImage) {
  for (const auto& [channels, size] : std::vector<std::pair<int64_t, int64_t>>{{1, 28}, {3, 32}}) {
    const auto m = build_model(GetParam(), {.in_channels = channels, .num_classes = 10, .input_size = size});
    const Variable y = m->forward(input(2, channels, size, 1));
    EXPECT_EQ(y.shape(), (Shape{2, 10})) << channels << "x" << size << "x" << size;
    m->eval();
    EXPECT_EQ(m->forward(input(2, channels, size, 2)).shape(), (Shape{2, 10})) << "eval mode";
  }
}

TEST_P(ModelForward, BackwardGivesEveryParameterAFiniteNonzeroGradient) {
  const auto m = build_model(GetParam(), {.in_channels = 1, .num_classes = 10, .input_size = 28});
  fill_pseudo_random(*m);
  const Tensor labels = Tensor::empty({2}, DType::s32);
  labels.data<int32_t>()[0] = 3;
  labels.data<int32_t>()[1] = 7;
  ops::softmax_cross_entropy(m->forward(input(2, 1, 28, 4)), labels).backward();
  for (const auto& [name, p] : m->named_parameters()) {
    ASSERT_TRUE(p.has_grad()) << name;
    ASSERT_EQ(p.grad().shape(), p.shape()) << name;
    bool nonzero = false, finite = true;
    for (float g : p.grad().to_vector()) {
      nonzero |= g != 0.0f;
      finite &= std::isfinite(g);
    }
    EXPECT_TRUE(finite) << name;
    EXPECT_TRUE(nonzero) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(AllModels, ModelForward, ::testing::ValuesIn(model_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

struct PyTorchLogits {
  const char* model;
  int64_t in_channels, input_size;
  float width;
  float logits[20];  // [2, 10]
};

// From `gen.py forward` (the snippet in tests/model_layout_test.cpp): PyTorch in float64, training
// mode (batch statistics), dropout 0, the float32 weights of fill_pseudo_random, input element i
// (NCHW order) = 0.5·sin(0.37·i), batch 2, 10 classes. lpt's fp32 results lie within 4e-5 of the
// largest logit (PyTorch's own fp32 ones within 2e-5); a wiring error moves them by O(1).
const PyTorchLogits kPyTorchLogits[] = {
    {"resnet20", 3, 32, 1.0f,
     {1.249211e-01f, 3.407945e-01f, 1.800068e-01f, -5.380384e-02f, 2.147413e-01f,
      -6.333536e-02f, -5.845920e-02f, 3.759394e-01f, 1.522362e-01f, 2.374048e-01f,
      1.295121e-01f, 3.255825e-01f, 2.084288e-01f, -4.183154e-02f, 2.114990e-01f,
      -7.215549e-02f, -5.915540e-02f, 3.607272e-01f, 1.452024e-01f, 2.378425e-01f}},
    {"resnet18", 1, 28, 1.0f,
     {1.231253e-01f, 1.178450e+00f, -4.971291e-01f, -4.587759e-01f, 9.015555e-01f,
      -1.447824e-01f, 1.113601e-01f, 3.632660e-01f, -1.345637e-01f, 1.583969e-01f,
      9.704097e-02f, 1.183377e+00f, -4.992329e-01f, -4.768244e-01f, 8.677774e-01f,
      -1.846830e-01f, 1.100019e-01f, 2.081159e-01f, -9.398648e-02f, 8.966465e-02f}},
    {"resnet18", 3, 64, 1.0f,
     {1.297408e-01f, 1.204226e+00f, -4.619249e-01f, -3.479700e-01f, 8.286938e-01f,
      -1.555369e-01f, 1.241788e-01f, 9.138746e-02f, -3.622228e-02f, 1.331710e-01f,
      2.143754e-02f, 1.219515e+00f, -4.652488e-01f, -5.403761e-01f, 8.790079e-01f,
      -2.000366e-01f, 1.497330e-01f, 5.773902e-01f, -1.795511e-01f, -4.827764e-02f}},
    {"resnet50", 1, 28, 1.0f,
     {-2.157809e-01f, 2.016651e+00f, 9.486677e-01f, -6.631771e-01f, -1.005624e+00f,
      6.499307e-01f, 2.529588e-01f, -1.067321e+00f, -5.163096e-01f, 1.241529e+00f,
      -1.425141e-01f, 1.783445e+00f, 1.179905e+00f, -5.482398e-01f, -9.832161e-01f,
      5.785359e-01f, 1.336875e-01f, -1.074039e+00f, -3.817448e-01f, 1.078877e+00f}},
    {"mobilenet_v2", 3, 32, 1.0f,
     {3.794068e-01f, 3.084025e-01f, 7.153113e-02f, 4.894197e-01f, -3.438506e-01f,
      -7.928233e-02f, 8.869176e-02f, -9.707788e-01f, 8.569841e-01f, 1.548190e-01f,
      4.175535e-01f, 2.952463e-01f, -7.278081e-02f, 6.831017e-01f, -1.271181e-02f,
      4.294893e-03f, 9.198328e-02f, -4.452356e-01f, 5.532542e-01f, 2.016878e-01f}},
    {"mobilenet_v2", 1, 64, 0.5f,
     {3.461559e-01f, 2.327029e-01f, 9.262675e-03f, 6.405908e-01f, 7.540524e-03f,
      -9.434811e-02f, 7.733265e-02f, -5.056422e-01f, 8.560062e-01f, 2.862185e-02f,
      4.558319e-01f, 3.135459e-01f, 8.076042e-02f, 4.804938e-01f, -3.865353e-01f,
      1.518224e-02f, 1.360066e-01f, -8.600346e-01f, 6.061919e-01f, 2.668001e-01f}},
    {"mobilenet_v1", 3, 64, 0.5f,
     {3.075734e-01f, -3.892909e-01f, 1.038868e-01f, -2.390689e-01f, -1.029643e-01f,
      -3.086004e-02f, -1.541638e-01f, 1.253564e-01f, -4.830061e-01f, 8.579765e-02f,
      4.240090e-01f, -1.524008e-01f, 2.323431e-01f, -3.142118e-01f, -2.610999e-01f,
      1.739939e-01f, -2.644701e-01f, 1.779132e-01f, -5.157848e-01f, 4.899119e-02f}},
};

void PrintTo(const PyTorchLogits& c, std::ostream* os) {
  *os << c.model << " in_channels " << c.in_channels << " input_size " << c.input_size << " width " << c.width;
}

class ModelMatchesPyTorch : public ::testing::TestWithParam<PyTorchLogits> {};

TEST_P(ModelMatchesPyTorch, LogitsForTheSameWeightsAndInput) {
  const PyTorchLogits& c = GetParam();
  const auto m = build_model(c.model, {.in_channels = c.in_channels, .num_classes = 10,
                                       .input_size = c.input_size, .width = c.width, .dropout = 0.0f});
  fill_pseudo_random(*m);
  Tensor x = Tensor::empty({2, c.in_channels, c.input_size, c.input_size});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = float(0.5 * std::sin(0.37 * double(i)));
  const std::vector<float> y = m->forward(Variable(x.to(MemoryFormat::channels_last))).data().to_vector();
  ASSERT_EQ(y.size(), 20u);
  float scale = 0;
  for (float v : c.logits) scale = std::max(scale, std::abs(v));
  for (int i = 0; i < 20; ++i) EXPECT_NEAR(y[i], c.logits[i], 2e-4f * scale) << "logit " << i;
}

INSTANTIATE_TEST_SUITE_P(SomeModels, ModelMatchesPyTorch, ::testing::ValuesIn(kPyTorchLogits),
                         [](const ::testing::TestParamInfo<PyTorchLogits>& info) {
                           return std::string(info.param.model) + "_in" + std::to_string(info.param.in_channels) +
                                  "_size" + std::to_string(info.param.input_size);
                         });

}  // namespace
}  // namespace lpt
