#include "models/resnet.h"

#include <string>

#include "layers/conv_bn.h"

namespace lpt {

ResNetConfig cifar_resnet_config(int depth, int64_t in_channels, int64_t num_classes) {
  LPT_CHECK(depth >= 8 && (depth - 2) % 6 == 0, "cifar_resnet_config: depth must be 6n+2 (20, 32, 44, 56, 110), got ",
            depth);
  const int64_t n = (depth - 2) / 6;
  ResNetConfig c;
  c.blocks = {n, n, n};
  c.widths = {16, 32, 64};
  c.in_channels = in_channels;
  c.num_classes = num_classes;
  return c;
}

ResNetConfig imagenet_resnet_config(int depth, int64_t in_channels, int64_t num_classes, int64_t input_size) {
  LPT_CHECK(depth == 18 || depth == 34 || depth == 50, "imagenet_resnet_config: depth must be 18, 34 or 50, got ",
            depth);
  ResNetConfig c;
  c.blocks = depth == 18 ? std::vector<int64_t>{2, 2, 2, 2} : std::vector<int64_t>{3, 4, 6, 3};
  c.widths = {64, 128, 256, 512};
  c.bottleneck = depth == 50;
  c.in_channels = in_channels;
  c.num_classes = num_classes;
  const bool small = input_size <= 32;
  c.stem_kernel = small ? 3 : 7;
  c.stem_stride = small ? 1 : 2;
  c.maxpool = !small;
  c.conv_init = ConvInit::kaiming_fan_out;
  return c;
}

namespace {

// torchvision's rule: a projection shortcut wherever the block changes the resolution or width
// (children "0" conv and "1" batch norm, as torchvision's Sequential names them).
std::shared_ptr<ConvBnAct> make_downsample(int64_t in, int64_t out, int64_t stride, ConvInit init) {
  if (stride == 1 && in == out) return nullptr;
  // Block inputs are ReLU outputs.
  return std::make_shared<ConvBnAct>(after_relu(make_conv(conv_options(in, out, 1, stride), init)),
                                     make_batch_norm(out, false), ops::Activation::none);
}

Variable shortcut(const std::shared_ptr<ConvBnAct>& downsample, const Variable& x) {
  return downsample ? downsample->forward(x) : x;
}

}  // namespace

BasicBlock::BasicBlock(int64_t in_channels, int64_t width, int64_t stride, ConvInit init) {
  conv1_ = register_module("conv1", after_relu(make_conv(conv_options(in_channels, width, 3, stride), init)));
  bn1_ = register_module("bn1", make_batch_norm(width, true));
  conv2_ = register_module("conv2", after_relu(make_conv(conv_options(width, width, 3), init)));
  bn2_ = register_module("bn2", make_batch_norm(width, false));
  downsample_ = make_downsample(in_channels, width, stride, init);
  if (downsample_) register_module("downsample", downsample_);
}

Variable BasicBlock::forward(const Variable& x) {
  const Variable h = conv_bn(*conv1_, *bn1_, x);
  return conv_bn(*conv2_, *bn2_, h, ops::Activation::relu, shortcut(downsample_, x));
}

Bottleneck::Bottleneck(int64_t in_channels, int64_t width, int64_t stride, ConvInit init) {
  const int64_t out = width * expansion;
  conv1_ = register_module("conv1", after_relu(make_conv(conv_options(in_channels, width, 1), init)));
  bn1_ = register_module("bn1", make_batch_norm(width, true));
  conv2_ = register_module("conv2", after_relu(make_conv(conv_options(width, width, 3, stride), init)));
  bn2_ = register_module("bn2", make_batch_norm(width, true));
  conv3_ = register_module("conv3", after_relu(make_conv(conv_options(width, out, 1), init)));
  bn3_ = register_module("bn3", make_batch_norm(out, false));
  downsample_ = make_downsample(in_channels, out, stride, init);
  if (downsample_) register_module("downsample", downsample_);
}

Variable Bottleneck::forward(const Variable& x) {
  Variable h = conv_bn(*conv1_, *bn1_, x);
  h = conv_bn(*conv2_, *bn2_, h);
  return conv_bn(*conv3_, *bn3_, h, ops::Activation::relu, shortcut(downsample_, x));
}

namespace {

template <class Block>
std::shared_ptr<Sequential> make_stage(int64_t& channels, int64_t width, int64_t blocks, int64_t stride,
                                       ConvInit init) {
  auto stage = std::make_shared<Sequential>();
  for (int64_t b = 0; b < blocks; ++b) {
    stage->add(std::make_shared<Block>(channels, width, b == 0 ? stride : 1, init));
    channels = width * Block::expansion;
  }
  return stage;
}

}  // namespace

ResNet::ResNet(const ResNetConfig& c) {
  LPT_CHECK(!c.blocks.empty() && c.blocks.size() == c.widths.size(), "ResNet: ", c.blocks.size(),
            " stage block counts and ", c.widths.size(), " stage widths; expected equal, non-zero numbers");
  conv1_ = register_module(
      "conv1", make_conv(conv_options(c.in_channels, c.widths[0], c.stem_kernel, c.stem_stride), c.conv_init));
  bn1_ = register_module("bn1", make_batch_norm(c.widths[0], true));
  if (c.maxpool) maxpool_ = register_module("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));
  int64_t channels = c.widths[0];
  for (size_t s = 0; s < c.blocks.size(); ++s) {
    const int64_t stride = s == 0 ? 1 : 2;
    auto stage = c.bottleneck ? make_stage<Bottleneck>(channels, c.widths[s], c.blocks[s], stride, c.conv_init)
                              : make_stage<BasicBlock>(channels, c.widths[s], c.blocks[s], stride, c.conv_init);
    stages_.push_back(register_module("layer" + std::to_string(s + 1), stage));
  }
  avgpool_ = register_module("avgpool", std::make_shared<GlobalAvgPool2d>());
  fc_ = register_module("fc", after_relu(std::make_shared<Linear>(channels, c.num_classes)));
}

Variable ResNet::forward(const Variable& x) {
  Variable h = conv_bn(*conv1_, *bn1_, x);
  if (maxpool_) h = maxpool_->forward(h);
  for (const auto& stage : stages_) h = stage->forward(h);
  return fc_->forward(ops::flatten(avgpool_->forward(h)));
}

}  // namespace lpt
