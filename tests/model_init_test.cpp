// Model construction: initialisation (schemes, determinism per seed), module and parameter
// names, the factory's errors, and the first-conv / last-linear helpers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "layers/simple.h"
#include "models/models.h"
#include "models/resnet.h"

namespace lpt {
namespace {

struct Stats {
  double n = 0, mean = 0, std = 0, max_abs = 0;
};

Stats stats(const Tensor& t) {
  const std::vector<float> v = t.to_vector();
  Stats s;
  s.n = double(v.size());
  for (float x : v) {
    s.mean += x;
    s.max_abs = std::max(s.max_abs, double(std::abs(x)));
  }
  s.mean /= s.n;
  for (float x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(s.std / s.n);
  return s;
}

Tensor& param(Module& m, const std::string& name) {
  for (const auto& [n, p] : m.named_parameters())
    if (n == name) return p.data();
  throw Error("no parameter " + name);
}

Tensor& buffer(Module& m, const std::string& name) {
  for (const auto& [n, b] : m.named_buffers())
    if (n == name) return *b;
  throw Error("no buffer " + name);
}

void expect_all(const Tensor& t, float value, const std::string& what) {
  for (float v : t.to_vector()) ASSERT_EQ(v, value) << what;
}

// Sample mean and standard deviation within 5 standard errors of the distribution's; the standard
// error of the sample std is sigma * sqrt((kurtosis - 1) / (4n)): kurtosis 9/5 uniform, 3 normal.
void expect_moments(const Stats& s, double sigma, double kurtosis, const std::string& what) {
  EXPECT_NEAR(s.mean, 0.0, 5 * sigma / std::sqrt(s.n)) << what;
  EXPECT_NEAR(s.std, sigma, 5 * sigma * std::sqrt((kurtosis - 1) / (4 * s.n))) << what;
}

// PyTorch's default for conv/linear weights: U(-b, b), b = 1/sqrt(fan_in).
void expect_default_uniform(const Tensor& t, int64_t fan_in, const std::string& what) {
  const double bound = 1.0 / std::sqrt(double(fan_in));
  const Stats s = stats(t);
  EXPECT_LE(s.max_abs, bound) << what;
  EXPECT_GT(s.max_abs, 0.95 * bound) << what;
  expect_moments(s, bound / std::sqrt(3.0), 1.8, what);
}

void expect_normal(const Tensor& t, double sigma, const std::string& what) {
  expect_moments(stats(t), sigma, 3.0, what);
}

TEST(ModelInit, CifarResNetUsesPyTorchLayerDefaults) {
  const auto m = make_model("resnet20", {.seed = 5});
  expect_default_uniform(param(*m, "layer3.1.conv2.weight"), 64 * 9, "layer3.1.conv2.weight");
  expect_default_uniform(param(*m, "layer3.0.downsample.0.weight"), 32, "layer3.0.downsample.0.weight");
  expect_default_uniform(param(*m, "fc.weight"), 64, "fc.weight");
  EXPECT_LE(stats(param(*m, "fc.bias")).max_abs, 1.0 / 8.0);
  EXPECT_GT(stats(param(*m, "fc.bias")).max_abs, 0.0);
  expect_all(param(*m, "layer2.1.bn1.weight"), 1.0f, "bn weight");
  expect_all(param(*m, "layer2.1.bn1.bias"), 0.0f, "bn bias");
  expect_all(buffer(*m, "layer2.1.bn1.running_mean"), 0.0f, "running_mean");
  expect_all(buffer(*m, "layer2.1.bn1.running_var"), 1.0f, "running_var");
}

TEST(ModelInit, TorchvisionResNetUsesKaimingNormalFanOutForConvsAndDefaultForFc) {
  // ResNet-18's configuration with narrower stages: its 11M normal draws would take seconds.
  ResNetConfig config = imagenet_resnet_config(18, 1, 10, 28);
  ASSERT_EQ(config.conv_init, ConvInit::kaiming_fan_out);
  config.widths = {16, 32, 64, 128};
  ResNet m(config);
  m.name_modules();
  m.initialize(5);
  expect_normal(param(m, "layer4.1.conv2.weight"), std::sqrt(2.0 / (128 * 9)), "layer4.1.conv2.weight");
  expect_normal(param(m, "layer4.0.downsample.0.weight"), std::sqrt(2.0 / 128), "layer4.0.downsample.0.weight");
  expect_default_uniform(param(m, "fc.weight"), 128, "fc.weight");
  expect_all(param(m, "layer1.0.bn2.weight"), 1.0f, "bn weight");
}

TEST(ModelInit, MobileNetV2UsesTorchvisionInit) {
  const auto m = make_model("mobilenet_v2", {.seed = 5});
  expect_normal(param(*m, "features.18.0.weight"), std::sqrt(2.0 / 1280), "features.18.0.weight");
  // Depthwise: PyTorch's fan_out is out_channels * kh * kw whatever the groups.
  expect_normal(param(*m, "features.17.conv.1.0.weight"), std::sqrt(2.0 / (960 * 9)), "depthwise");
  expect_normal(param(*m, "classifier.1.weight"), 0.01, "classifier.1.weight");
  expect_all(param(*m, "classifier.1.bias"), 0.0f, "classifier.1.bias");
  expect_all(param(*m, "features.5.conv.3.weight"), 1.0f, "bn weight");
}

TEST(ModelInit, MobileNetV1UsesPyTorchLayerDefaults) {
  const auto m = make_model("mobilenet_v1", {.seed = 5});
  expect_default_uniform(param(*m, "features.13.3.weight"), 1024, "features.13.3.weight");
  expect_default_uniform(param(*m, "features.12.0.weight"), 9, "features.12.0.weight (depthwise: fan_in 9)");
  expect_default_uniform(param(*m, "classifier.weight"), 1024, "classifier.weight");
}

TEST(ModelInit, SameSeedSameWeightsOtherSeedOtherWeights) {
  // Each initialiser once: PyTorch defaults (resnet20, mobilenet_v1), kaiming normal and N(0, 0.01)
  // (mobilenet_v2, at width 0.5 to keep the test fast).
  for (const std::string name : {"resnet20", "mobilenet_v1", "mobilenet_v2"}) {
    const ModelOptions o{.width = name == "mobilenet_v2" ? 0.5f : 1.0f, .seed = 11};
    ModelOptions other = o;
    other.seed = 12;
    const auto a = make_model(name, o), b = make_model(name, o), c = make_model(name, other);
    const auto pa = a->named_parameters(), pb = b->named_parameters(), pc = c->named_parameters();
    ASSERT_EQ(pa.size(), pc.size());
    for (size_t i = 0; i < pa.size(); ++i) {
      const std::vector<float> va = pa[i].second.data().to_vector();
      EXPECT_EQ(va, pb[i].second.data().to_vector()) << name << " " << pa[i].first;
      // Random draws differ with the seed; constants (BN's 1 and 0, zero biases) do not.
      const bool constant = std::all_of(va.begin(), va.end(), [&](float v) { return v == va[0]; });
      if (pa[i].second.data().ndim() > 1) {
        EXPECT_FALSE(constant) << name << " " << pa[i].first << " not drawn";
      }
      EXPECT_EQ(va == pc[i].second.data().to_vector(), constant) << name << " " << pa[i].first;
    }
  }
}

TEST(ModelInit, ParametersAndDropoutCarryTheirFullNames) {
  const auto m = build_model("mobilenet_v2", {});
  for (const auto& [name, p] : m->named_parameters()) EXPECT_EQ(p.name(), name);
  int dropouts = 0;
  for (const auto& [path, module] : m->named_modules())
    if (dynamic_cast<Dropout*>(module)) {
      EXPECT_EQ(module->name(), "classifier.0");
      ++dropouts;
    }
  EXPECT_EQ(dropouts, 1);  // its masks are keyed by that name
}

TEST(ModelFactory, KnowsExactlyTheTenModels) {
  EXPECT_EQ(model_names(), (std::vector<std::string>{"resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
                                                     "resnet18", "resnet34", "resnet50", "mobilenet_v1",
                                                     "mobilenet_v2"}));
}

TEST(ModelFactory, UnknownNameListsTheKnownOnes) {
  try {
    make_model("resnet19", {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "unknown model 'resnet19'; known models: resnet20, resnet32, resnet44, resnet56, "
                 "resnet110, resnet18, resnet34, resnet50, mobilenet_v1, mobilenet_v2");
  }
}

TEST(ModelFactory, RejectsInvalidOptions) {
  EXPECT_THROW(make_model("resnet20", {.in_channels = 0}), Error);
  EXPECT_THROW(make_model("resnet20", {.num_classes = 0}), Error);
  EXPECT_THROW(make_model("resnet20", {.input_size = 0}), Error);
  EXPECT_THROW(make_model("mobilenet_v2", {.width = 0.0f}), Error);
  EXPECT_THROW(make_model("mobilenet_v2", {.dropout = 1.0f}), Error);
  try {
    make_model("resnet56", {.width = 0.5f});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "model resnet56: width multipliers apply to the MobileNets only, got width 0.5");
  }
}

TEST(ModelFactory, FirstConvAndLastLinear) {
  const std::pair<const char*, const char*> expected[] = {{"conv1", "fc"},
                                                          {"features.0.0", "classifier"},
                                                          {"features.0.0", "classifier.1"}};
  const char* models[] = {"resnet50", "mobilenet_v1", "mobilenet_v2"};
  for (int i = 0; i < 3; ++i) {
    const auto m = build_model(models[i], {});
    EXPECT_EQ(first_conv_name(*m), expected[i].first) << models[i];
    EXPECT_EQ(last_linear_name(*m), expected[i].second) << models[i];
  }
}

TEST(ModelFactory, GemmLayersAreTheConvAndLinearWeightsInStateDictOrder) {
  const auto m = build_model("resnet20", {});
  std::vector<std::string> from_weights;
  for (const auto& [name, p] : m->named_parameters())
    if (name.ends_with(".weight") && p.data().ndim() > 1) from_weights.push_back(name.substr(0, name.size() - 7));
  const std::vector<std::string> names = gemm_layer_names(*m);
  EXPECT_EQ(names, from_weights);
  ASSERT_EQ(names.size(), 22u);  // 19 3x3 convs, 2 shortcut convs, fc
  EXPECT_EQ(names[0], "conv1");
  EXPECT_EQ(names[1], "layer1.0.conv1");
  EXPECT_EQ(names[9], "layer2.0.downsample.0");
  EXPECT_EQ(names[21], "fc");
}

}  // namespace
}  // namespace lpt
