#pragma once
// MobileNets with torchvision-style names (features.<i>.<j>, classifier).
// - MobileNetV2 (Sandler et al. 2018) exactly as torchvision builds it: features.0 is conv 3x3/2 +
//   BN + ReLU6, features.1..17 inverted residual blocks (features.i.conv.{0.0,0.1} expand 1x1 when
//   t != 1, then depthwise 3x3 + BN + ReLU6, then project 1x1 conv + BN), features.18 1x1 to 1280
//   (scaled up for width > 1), classifier.0 Dropout and classifier.1 Linear; torchvision's init.
// - MobileNetV1 (Howard et al. 2017): features.0 = conv 3x3/2 32 + BN + ReLU as features.0.0/.1,
//   features.1..13 depthwise-separable blocks to 64,128,128,256,256,512x6,1024,1024 (stride 2 at the
//   2nd, 4th, 6th and 12th), each named like nn.Sequential(dw conv, BN, ReLU, pw conv, BN, ReLU):
//   .0/.1 depthwise conv + BN, .3/.4 pointwise conv + BN; then a global average pool and the Linear
//   `classifier`. ReLU (the paper's; fused into the BNs), PyTorch's default init.
// Width multipliers round channels with torchvision's _make_divisible(c * width, 8) (for V1 this
// equals the paper's int(c * width) at the usual 0.25/0.5/0.75/1). For inputs of 32x32 or less the
// stem conv has stride 1 (SPEC §7, the CIFAR convention); all other strides stay.
#include <memory>

#include "layers/conv_bn.h"
#include "layers/simple.h"
#include "models/common.h"

namespace lpt {

struct MobileNetConfig {
  int64_t in_channels = 3, num_classes = 10;
  double width = 1.0;        // width multiplier
  bool small_input = false;  // stem stride 1 instead of 2
  float dropout = 0.2f;      // before MobileNetV2's classifier (MobileNetV1 has none)
};

// torchvision's InvertedResidual: features.i.conv, with the residual add when shape is kept.
class InvertedResidual : public Module {
 public:
  // `input_nonnegative`: the block's input is a ReLU6 output (the first block, after the stem).
  InvertedResidual(int64_t in_channels, int64_t out_channels, int64_t stride, int64_t expand_ratio,
                   bool input_nonnegative = false);
  Variable forward(const Variable& x) override;

 private:
  std::vector<std::shared_ptr<ConvBnAct>> blocks_;  // the expansion (if any) and the depthwise conv, children of "conv"
  std::shared_ptr<Conv2d> project_;                  // the 1×1 projection and its batch norm, the last two children
  std::shared_ptr<BatchNorm2d> project_bn_;
  bool residual_;
};

class MobileNetV2 : public Module {
 public:
  explicit MobileNetV2(const MobileNetConfig& config);
  Variable forward(const Variable& x) override;

 private:
  std::shared_ptr<Sequential> features_, classifier_;
};

// Depthwise 3x3 conv + BN + ReLU, then pointwise 1x1 conv + BN + ReLU. Children are "0", "1", "3",
// "4": the names the PyTorch reference's nn.Sequential gives them, whose ReLUs "2" and "5" are fused
// into the BNs here.
class DepthwiseSeparable : public Module {
 public:
  DepthwiseSeparable(int64_t in_channels, int64_t out_channels, int64_t stride);
  Variable forward(const Variable& x) override;

 private:
  std::shared_ptr<Conv2d> depthwise_, pointwise_;
  std::shared_ptr<BatchNorm2d> depthwise_bn_, pointwise_bn_;
};

class MobileNetV1 : public Module {
 public:
  explicit MobileNetV1(const MobileNetConfig& config);
  Variable forward(const Variable& x) override;

 private:
  std::shared_ptr<Sequential> features_;
  std::shared_ptr<Linear> classifier_;
};

}  // namespace lpt
