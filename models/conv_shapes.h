#pragma once
// The convolutions of the shipped models on 1×28×28 inputs, as shapes: what the kernel-choice tests
// (tests/primitive_impl_conv_test.cpp) and the per-shape GEMM benchmark (bench_ops) loop over.
#include <cstdint>
#include <string>
#include <vector>

namespace lpt {

struct ConvSpec {
  std::string name;
  int64_t c_in, c_out, hw, k, stride, groups;  // input hw × hw, padding k / 2
};

// CIFAR ResNet-20: 3×3 convs (pad 1) and 1×1 stride-2 shortcuts (pad 0), one entry per shape.
std::vector<ConvSpec> resnet20_convs();
// torchvision's MobileNetV2 (width 1.0) with a stride-1 stem, every conv in order (52).
std::vector<ConvSpec> mobilenet_v2_convs(int64_t in_channels);

}  // namespace lpt
