#include "models/mobilenet.h"

#include <algorithm>
#include <cmath>

#include "layers/init.h"

namespace lpt {

namespace {

// torchvision's MobileNetV2 classifier init: weight N(0, 0.01^2), bias 0.
class SmallNormalLinear : public Linear {
 public:
  using Linear::Linear;

 protected:
  void reset_parameters(uint64_t seed) override {
    init::normal(weight().data(), 0.01f, seed, weight().name());
    bias().data().zero();
  }
};

// torchvision's Conv2dNormActivation with ReLU6 (ReLU6 does not fuse into oneDNN's batch norm).
std::shared_ptr<ConvBnAct> conv_bn_relu6(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1,
                                         int64_t groups = 1, bool input_nonnegative = false) {
  auto conv = make_conv(conv_options(in, out, kernel, stride, groups), ConvInit::kaiming_fan_out);
  conv->set_input_nonnegative(input_nonnegative);
  return std::make_shared<ConvBnAct>(conv, make_batch_norm(out, false), ops::Activation::relu6);
}

void check_config(const char* model, const MobileNetConfig& c) {
  LPT_CHECK(c.in_channels > 0 && c.num_classes > 0 && c.width > 0 && std::isfinite(c.width), model,
            ": in_channels, num_classes and width must be positive, got ", c.in_channels, ", ", c.num_classes,
            ", ", c.width);
}

}  // namespace

InvertedResidual::InvertedResidual(int64_t in_channels, int64_t out_channels, int64_t stride, int64_t expand_ratio,
                                   bool input_nonnegative)
    : residual_(stride == 1 && in_channels == out_channels) {
  const int64_t hidden = in_channels * expand_ratio;
  auto conv = register_module("conv", std::make_shared<Sequential>());
  if (expand_ratio != 1) blocks_.push_back(conv->add(conv_bn_relu6(in_channels, hidden, 1, 1, 1, input_nonnegative)));
  blocks_.push_back(conv->add(conv_bn_relu6(hidden, hidden, 3, stride, hidden, expand_ratio != 1 || input_nonnegative)));
  project_ = conv->add(after_relu(make_conv(conv_options(hidden, out_channels, 1), ConvInit::kaiming_fan_out)));
  project_bn_ = conv->add(make_batch_norm(out_channels, false));
}

Variable InvertedResidual::forward(const Variable& x) {
  Variable h = x;
  for (const auto& b : blocks_) h = b->forward(h);
  return conv_bn(*project_, *project_bn_, h, ops::Activation::none, residual_ ? x : Variable());
}

MobileNetV2::MobileNetV2(const MobileNetConfig& c) {
  check_config("MobileNetV2", c);
  struct Stage {
    int64_t expand, channels, blocks, stride;
  };
  static constexpr Stage stages[] = {{1, 16, 1, 1},  {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                     {6, 96, 3, 1},  {6, 160, 3, 2}, {6, 320, 1, 1}};
  int64_t channels = make_divisible(32 * c.width);
  const int64_t last_channels = make_divisible(1280 * std::max(1.0, c.width));
  features_ = register_module("features", std::make_shared<Sequential>());
  features_->add(conv_bn_relu6(c.in_channels, channels, 3, c.small_input ? 1 : 2));
  for (const Stage& s : stages) {
    const int64_t out = make_divisible(double(s.channels) * c.width);
    for (int64_t b = 0; b < s.blocks; ++b) {
      // Only the first block's input is a ReLU6 output (the stem's); the others get linear bottlenecks.
      const bool after_stem = features_->size() == 1;
      features_->add(std::make_shared<InvertedResidual>(channels, out, b == 0 ? s.stride : 1, s.expand, after_stem));
      channels = out;
    }
  }
  features_->add(conv_bn_relu6(channels, last_channels, 1));
  classifier_ = register_module("classifier", std::make_shared<Sequential>());
  classifier_->add(std::make_shared<Dropout>(c.dropout));
  classifier_->add(after_relu(std::make_shared<SmallNormalLinear>(last_channels, c.num_classes)));
}

Variable MobileNetV2::forward(const Variable& x) {
  return classifier_->forward(ops::flatten(ops::global_avg_pool2d(features_->forward(x))));
}

DepthwiseSeparable::DepthwiseSeparable(int64_t in_channels, int64_t out_channels, int64_t stride) {
  depthwise_ = register_module("0", after_relu(make_conv(conv_options(in_channels, in_channels, 3, stride, in_channels),
                                                         ConvInit::pytorch_default)));
  depthwise_bn_ = register_module("1", make_batch_norm(in_channels, true));
  pointwise_ = register_module(
      "3", after_relu(make_conv(conv_options(in_channels, out_channels, 1), ConvInit::pytorch_default)));
  pointwise_bn_ = register_module("4", make_batch_norm(out_channels, true));
}

Variable DepthwiseSeparable::forward(const Variable& x) {
  return conv_bn(*pointwise_, *pointwise_bn_, conv_bn(*depthwise_, *depthwise_bn_, x));
}

MobileNetV1::MobileNetV1(const MobileNetConfig& c) {
  check_config("MobileNetV1", c);
  struct Block {
    int64_t channels, stride;
  };
  static constexpr Block blocks[] = {{64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1}, {512, 2},  {512, 1},
                                     {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1}};
  int64_t channels = make_divisible(32 * c.width);
  features_ = register_module("features", std::make_shared<Sequential>());
  features_->add(std::make_shared<ConvBnAct>(
      make_conv(conv_options(c.in_channels, channels, 3, c.small_input ? 1 : 2), ConvInit::pytorch_default),
      make_batch_norm(channels, true), ops::Activation::none));
  for (const Block& b : blocks) {
    const int64_t out = make_divisible(double(b.channels) * c.width);
    features_->add(std::make_shared<DepthwiseSeparable>(channels, out, b.stride));
    channels = out;
  }
  classifier_ = register_module("classifier", after_relu(std::make_shared<Linear>(channels, c.num_classes)));
}

Variable MobileNetV1::forward(const Variable& x) {
  return classifier_->forward(ops::flatten(ops::global_avg_pool2d(features_->forward(x))));
}

}  // namespace lpt
