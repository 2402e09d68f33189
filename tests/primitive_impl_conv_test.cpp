// Every conv of a CIFAR ResNet-20 and of MobileNetV2 (28x28 input) must run on oneDNN's fast
// kernel families (brgconv / jit / brdgmm), never "ref" or "gemm", in all three directions, with
// fp32 operands and (where oneDNN's ISA has bf16 dot products) with the bf16 lane's operands; the
// depthwise convs must get the depthwise kernels. The convs run forward and backward at batch 2;
// the primitive descriptors at batch 128 (the training batch) must pick the same implementations.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <tuple>

#include "core/onednn/conv_pd.h"
#include "core/ops/conv.h"
#include "core/ops/gemm_lanes.h"
#include "models/conv_shapes.h"
#include "tests/support/gradcheck.h"
#include "tests/support/bf16_testing.h"

namespace lpt {
namespace {

// The allowlist is the AVX-512 machine class's (SPEC §8). With oneDNN capped below AVX-512
// (CI's ONEDNN_MAX_CPU_ISA=AVX2 pass), oneDNN 2.6 has no brgconv and runs some depthwise shapes
// through gemm; there only reference kernels are refused.
bool fast_family(const std::string& impl) {
  if (impl.find("ref") != std::string::npos) return false;
  if (onednn::effective_isa().rfind("avx512", 0) != 0) return true;
  const bool allowed = impl.rfind("jit", 0) == 0 || impl.rfind("brgconv", 0) == 0 || impl.rfind("brdgmm", 0) == 0;
  return allowed && impl.find("gemm") == std::string::npos;
}

struct Impls {
  std::string fwd, bwd_data, bwd_weights;
  bool operator==(const Impls&) const = default;
};

Impls impls_at_batch(const ConvSpec& c, int64_t batch, onednn::dt operands) {
  const ops::Conv2dParams p{
      .stride_h = c.stride, .stride_w = c.stride, .pad_h = c.k / 2, .pad_w = c.k / 2, .groups = c.groups};
  const Shape x{batch, c.c_in, c.hw, c.hw}, w{c.c_out, c.c_in / c.groups, c.k, c.k};
  return {onednn::impl_name(onednn::conv_forward_pd(x, w, false, p, operands)),
          onednn::impl_name(onednn::conv_backward_data_pd(x, w, p, operands)),
          onednn::impl_name(onednn::conv_backward_weights_pd(x, w, false, p, operands))};
}

// Runs each distinct conv forward and backward at batch 2 (in the bf16 lane: on bf16-exact data,
// every GEMM in bf16) and checks the implementations.
void check_model(const std::vector<ConvSpec>& convs, onednn::dt operands = onednn::dt::f32) {
  const bool bf16 = operands == onednn::dt::bf16;
  ops::GemmLanes lanes;
  const ops::Lane lane = bf16 ? ops::Lane::bf16 : ops::Lane::fp32;
  lanes.lane = {lane, lane, lane};
  lanes.runs = std::make_shared<ops::GemmRuns>();
  std::set<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>> seen;
  for (const ConvSpec& c : convs) {
    if (!seen.insert({c.c_in, c.c_out, c.hw, c.k, c.stride, c.groups}).second) continue;
    SCOPED_TRACE(c.name);
    const ops::Conv2dParams p{
        .stride_h = c.stride, .stride_w = c.stride, .pad_h = c.k / 2, .pad_w = c.k / 2, .groups = c.groups};
    Variable x(testing::bf16_rounded(testing::random_tensor({2, c.c_in, c.hw, c.hw}, 1, 0.5, 1, MemoryFormat::channels_last)), true);
    Variable w(testing::bf16_rounded(testing::random_tensor({c.c_out, c.c_in / c.groups, c.k, c.k}, 2, 0.5, 1)), true);
    Variable y = ops::conv2d(x, w, Variable(), p, nullptr, &lanes);
    y.backward(Tensor::full(y.shape(), 1.0f, MemoryFormat::channels_last));
    ASSERT_TRUE(x.has_grad() && w.has_grad());
    for (const ops::GemmRun& r : *lanes.runs) EXPECT_EQ(r.lane, lane) << r.impl;

    const Impls small = impls_at_batch(c, 2, operands), training = impls_at_batch(c, 128, operands);
    EXPECT_EQ(small, training) << "batch 2 and batch 128 pick different kernels";
    for (const std::string& impl : {training.fwd, training.bwd_data, training.bwd_weights})
      EXPECT_TRUE(fast_family(impl)) << impl;
    if (c.groups > 1 && c.groups == c.c_in && c.groups == c.c_out) {
      EXPECT_NE(training.fwd.find("_dw"), std::string::npos) << training.fwd;
      EXPECT_NE(training.bwd_data.find("_dw"), std::string::npos) << training.bwd_data;
      // Backward-weights is jit_dw too, except on 2x2 maps, where oneDNN 2.6 takes its generic
      // grouped jit kernel ("jit:avx512_core"), still a fast family.
    }
  }
}

TEST(PrimitiveImplConv, ResNet20UsesFastKernels) { check_model(resnet20_convs()); }

TEST(PrimitiveImplConv, MobileNetV2UsesFastKernels) { check_model(mobilenet_v2_convs(1)); }

TEST(PrimitiveImplConv, ThreeChannelStemUsesFastKernels) {
  check_model({{"stem rgb", 3, 32, 28, 3, 1, 1}, {"conv1 rgb", 3, 16, 28, 3, 1, 1}});
}

TEST(PrimitiveImplConv, Bf16LaneUsesFastKernels) {
  const std::string why = ops::why_no_bf16_gemms();
  if (!why.empty()) GTEST_SKIP() << why;
  check_model(resnet20_convs(), onednn::dt::bf16);
  check_model(mobilenet_v2_convs(1), onednn::dt::bf16);
  check_model({{"stem rgb", 3, 32, 28, 3, 1, 1}}, onednn::dt::bf16);
}

// The int8 lane's forward (u8 and s8 activations) gets oneDNN's VNNI / AMX int8 kernels for every
// conv of both models: strided, 1×1, one input channel, depthwise.
TEST(PrimitiveImplConv, Int8LaneUsesFastKernels) {
  const std::string why = ops::why_no_int8_gemms();
  if (!why.empty()) GTEST_SKIP() << why;
  std::vector<ConvSpec> convs = resnet20_convs();
  for (const ConvSpec& c : mobilenet_v2_convs(1)) convs.push_back(c);
  for (const ConvSpec& c : convs) {
    const ops::Conv2dParams p{
        .stride_h = c.stride, .stride_w = c.stride, .pad_h = c.k / 2, .pad_w = c.k / 2, .groups = c.groups};
    for (onednn::dt src : {onednn::dt::u8, onednn::dt::s8}) {
      const std::string impl = onednn::impl_name(
          onednn::conv_forward_int8_pd({128, c.c_in, c.hw, c.hw}, {c.c_out, c.c_in / c.groups, c.k, c.k}, p, src, {}));
      EXPECT_FALSE(ops::is_reference_impl(impl)) << c.name << ": " << impl;
      // Kernels with 32-bit int8 sums, not the saturating avx512_core / avx2 ones.
      EXPECT_TRUE(impl.find("vnni") != std::string::npos || impl.find("amx") != std::string::npos) << c.name << ": " << impl;
    }
  }
}

TEST(PrimitiveImplConv, MobileNetV2HasTheTorchvisionLayerCount) {
  // 1 stem + 17 blocks (16 with an expand conv) x 2-3 convs + 1 last conv = 52 convs.
  EXPECT_EQ(mobilenet_v2_convs(1).size(), 52u);
}

// Every conv primitive that the process created so far (all tests in this binary) is fast.
TEST(PrimitiveImplConv, AllRecordedConvPrimitivesAreFast) {
  check_model(resnet20_convs());
  int convs = 0;
  for (const auto& [what, impl] : onednn::recorded_impls()) {
    if (what.rfind("conv2d ", 0) != 0) continue;
    ++convs;
    EXPECT_TRUE(fast_family(impl)) << what << ": " << impl;
  }
  EXPECT_GT(convs, 0);
}

}  // namespace
}  // namespace lpt
