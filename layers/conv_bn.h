#pragma once
// A convolution followed by a batch norm, optionally a residual add and an activation: the pattern
// of every ResNet and MobileNet block. In training, and wherever the conv's forward GEMM is not in
// the int8 lane, it runs op by op. In evaluation with an int8 forward GEMM the batch norm (with
// its running statistics, an affine map per channel), the ReLUs and the residual add are fused into
// the int8 convolution as oneDNN post-ops (SPEC §9): one pass over the output instead of three or
// four. Results agree with the op-by-op ones up to fp32 rounding (tests/conv_bn_test.cpp).
#include "layers/batch_norm.h"
#include "layers/conv2d.h"

namespace lpt {

// act(bn(conv(x)) + residual), the ReLU of a batch norm made with fuse_relu coming before the add;
// `residual` may be undefined.
Variable conv_bn(Conv2d& conv, BatchNorm2d& bn, const Variable& x, ops::Activation act = ops::Activation::none,
                 const Variable& residual = Variable());

// torchvision's Conv2dNormActivation: children "0" conv and "1" batch norm (its activation, child
// "2" there, has no parameters and is not a child here), forward conv_bn(conv, bn, x, act).
class ConvBnAct : public Module {
 public:
  ConvBnAct(std::shared_ptr<Conv2d> conv, std::shared_ptr<BatchNorm2d> bn, ops::Activation act);
  Variable forward(const Variable& x) override { return conv_bn(*conv_, *bn_, x, act_); }

 private:
  std::shared_ptr<Conv2d> conv_;
  std::shared_ptr<BatchNorm2d> bn_;
  ops::Activation act_;
};

}  // namespace lpt
