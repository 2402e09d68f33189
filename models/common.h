#pragma once
// Pieces the model definitions share: torchvision's channel rounding and the two ways a model
// initialises its convolutions.
#include <cstdint>
#include <memory>

#include "layers/batch_norm.h"
#include "layers/conv2d.h"

namespace lpt {

// How a model's convolution weights are drawn (biases, where present, follow the same rule):
// PyTorch's layer default kaiming_uniform_(a = sqrt(5)) — the CIFAR ResNets and MobileNetV1 — or
// torchvision's kaiming_normal_(mode = "fan_out", nonlinearity = "relu") with zero bias, which its
// ResNets and MobileNetV2 apply after construction.
enum class ConvInit { pytorch_default, kaiming_fan_out };

// Bias-free convolution with "same" padding (kernel / 2), as every conv in these models is.
Conv2dOptions conv_options(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t groups = 1);
std::shared_ptr<Conv2d> make_conv(const Conv2dOptions& options, ConvInit init);

// Marks a conv or linear layer whose input is a ReLU/ReLU6 output (INT's signed: "auto" goes
// unsigned there, SPEC §1.1).
template <class Layer>
std::shared_ptr<Layer> after_relu(std::shared_ptr<Layer> layer) {
  layer->set_input_nonnegative(true);
  return layer;
}

// BatchNorm2d with PyTorch's defaults (momentum 0.1, eps 1e-5); `relu` fuses the ReLU that follows it.
std::shared_ptr<BatchNorm2d> make_batch_norm(int64_t channels, bool relu);

// torchvision's _make_divisible(v, divisor): v rounded to the nearest multiple of divisor, at least
// divisor and never more than 10% below v.
int64_t make_divisible(double v, int64_t divisor = 8);

}  // namespace lpt
