#pragma once
// Residual networks (He et al. 2016) in two families, one class:
// - CIFAR-style ResNet-20/32/44/56/110 (depth 6n+2): conv1 3x3 16, three stages of n BasicBlocks
//   with 16/32/64 channels, stride 2 entering stages 2 and 3; shortcuts that change shape are
//   1x1 conv + BN ("option B", named downsample.0 / downsample.1); PyTorch's default init.
// - torchvision's ResNet-18/34 (BasicBlock) and ResNet-50 (Bottleneck, stride on the 3x3 conv: v1.5):
//   conv1 7x7/2 + maxpool 3x3/2, four stages of 64/128/256/512, torchvision's init. For inputs of
//   32x32 or less the stem is the CIFAR one instead: conv1 3x3/1 and no maxpool (so conv1.weight is
//   [64, C, 3, 3]; everything else keeps torchvision's shapes).
// Names follow the PyTorch state_dicts (conv1, bn1, layer1.0.conv1, ..., layer2.0.downsample.0, fc).
// Every BN that torchvision follows with a ReLU computes relu(bn(x)) in one fused primitive, so
// there are no separate ReLU modules (they hold no state, so names are unaffected).
#include <memory>
#include <vector>

#include "layers/conv_bn.h"
#include "layers/simple.h"
#include "models/common.h"

namespace lpt {

struct ResNetConfig {
  std::vector<int64_t> blocks;  // blocks per stage (layer1, layer2, ...)
  std::vector<int64_t> widths;  // each stage's width; a Bottleneck outputs 4x its width
  bool bottleneck = false;
  int64_t in_channels = 3, num_classes = 10;
  int64_t stem_kernel = 3, stem_stride = 1;  // conv1, which outputs widths[0] channels
  bool maxpool = false;                      // 3x3/2 max pool after the stem
  ConvInit conv_init = ConvInit::pytorch_default;
};

// depth 20, 32, 44, 56 or 110.
ResNetConfig cifar_resnet_config(int depth, int64_t in_channels, int64_t num_classes);
// depth 18, 34 or 50; input_size <= 32 selects the CIFAR-style stem.
ResNetConfig imagenet_resnet_config(int depth, int64_t in_channels, int64_t num_classes, int64_t input_size);

// conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU.
class BasicBlock : public Module {
 public:
  static constexpr int64_t expansion = 1;
  BasicBlock(int64_t in_channels, int64_t width, int64_t stride, ConvInit init);
  Variable forward(const Variable& x) override;

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_;
  std::shared_ptr<BatchNorm2d> bn1_, bn2_;
  std::shared_ptr<ConvBnAct> downsample_;  // null for the identity shortcut
};

// conv1x1-BN-ReLU-conv3x3(stride)-BN-ReLU-conv1x1(4x width)-BN, plus the shortcut, then ReLU.
class Bottleneck : public Module {
 public:
  static constexpr int64_t expansion = 4;
  Bottleneck(int64_t in_channels, int64_t width, int64_t stride, ConvInit init);
  Variable forward(const Variable& x) override;

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_, conv3_;
  std::shared_ptr<BatchNorm2d> bn1_, bn2_, bn3_;
  std::shared_ptr<ConvBnAct> downsample_;
};

class ResNet : public Module {
 public:
  explicit ResNet(const ResNetConfig& config);
  Variable forward(const Variable& x) override;

 private:
  std::shared_ptr<Conv2d> conv1_;
  std::shared_ptr<BatchNorm2d> bn1_;
  std::shared_ptr<MaxPool2d> maxpool_;  // null for the CIFAR-style stem
  std::vector<std::shared_ptr<Sequential>> stages_;
  std::shared_ptr<GlobalAvgPool2d> avgpool_;
  std::shared_ptr<Linear> fc_;
};

}  // namespace lpt
