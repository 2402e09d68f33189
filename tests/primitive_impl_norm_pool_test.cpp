// Batch norms and pools at the shapes of the networks we train must run on oneDNN's fast JIT
// kernels, never on its reference or generic (ncsp/nspc C++) fallbacks: builds each shape, runs
// forward (training and inference) and backward, and checks the recorded implementations.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/onednn/context.h"
#include "core/ops/batch_norm.h"
#include "core/ops/pool.h"

namespace lpt {
namespace {

// The fast families: oneDNN's JIT batch norms (bnorm_jit when C is a multiple of the vector
// width, bnorm_tbb_jit otherwise) and its JIT pooling ("jit:avx512_core", "jit:avx2", ...).
bool is_fast(const std::string& impl) {
  if (impl.find("ref") != std::string::npos) return false;
  for (const char* family : {"bnorm_jit:", "bnorm_tbb_jit:", "jit:"})
    if (impl.rfind(family, 0) == 0) return true;
  return false;
}

// Runs every recorded primitive of `op` at `shape` through the allowlist; the shape must have
// produced both a forward and a backward primitive (now or in an earlier test: the cache is
// process-wide, so the record may predate this test).
void expect_fast(const std::string& op, const Shape& shape) {
  const std::string fwd_prefix = detail::concat(op, " fwd ", shape_str(shape));
  const std::string bwd_prefix = detail::concat(op, " bwd ", shape_str(shape));
  bool fwd = false, bwd = false;
  for (const auto& [what, impl] : onednn::recorded_impls()) {
    if (what.rfind(fwd_prefix, 0) == 0)
      fwd = true;
    else if (what.rfind(bwd_prefix, 0) == 0)
      bwd = true;
    else
      continue;
    EXPECT_TRUE(is_fast(impl)) << what << " runs on " << impl;
  }
  EXPECT_TRUE(fwd && bwd) << op << " " << shape_str(shape) << " recorded no forward or no backward primitive";
}

// Forward in training mode with backward, then an inference forward, as training and evaluation run it.
void run_batch_norm(const Shape& shape, bool fuse_relu) {
  const int64_t C = shape[1];
  Variable x(Tensor::full(shape, 0.5f, MemoryFormat::channels_last), true);  // values do not pick kernels
  Variable gamma(Tensor::full({C}, 1.0f), true), beta(Tensor::zeros({C}), true);
  Tensor rm = Tensor::zeros({C}), rv = Tensor::full({C}, 1.0f);
  ops::BatchNormParams p;
  p.fuse_relu = fuse_relu;
  Variable y = ops::batch_norm2d(x, gamma, beta, rm, rv, p);
  y.backward(Tensor::full(shape, 1.0f, MemoryFormat::channels_last));
  ASSERT_TRUE(x.has_grad() && gamma.has_grad() && beta.has_grad());
  NoGradGuard no_grad;
  p.training = false;
  ops::batch_norm2d(x, gamma, beta, rm, rv, p);
}

template <class Pool>
void run_pool(const Shape& shape, Pool pool) {
  Variable x(Tensor::full(shape, 0.5f, MemoryFormat::channels_last), true);
  Variable y = pool(x);
  y.backward(Tensor::full(y.shape(), 1.0f, MemoryFormat::channels_last));
  ASSERT_TRUE(x.has_grad());
  NoGradGuard no_grad;
  pool(x);
}

// CIFAR ResNet-20 on 28x28 inputs at batch 128: stages of 16, 32 and 64 channels at 28, 14 and
// 7 pixels; BN+ReLU fused after the first conv of a block, plain BN before the residual add
// (and in the 1x1 downsample shortcuts); global average pool over the last stage.
TEST(PrimitiveImplNormPool, ResNet20ShapesRunOnJitKernels) {
  const std::vector<Shape> stages = {{128, 16, 28, 28}, {128, 32, 14, 14}, {128, 64, 7, 7}};
  for (const Shape& s : stages)
    for (bool fuse_relu : {false, true}) run_batch_norm(s, fuse_relu);
  run_pool(stages.back(), [](const Variable& x) { return ops::global_avg_pool2d(x); });
  for (const Shape& s : stages) expect_fast("batch_norm", s);
  expect_fast("global_avg_pool2d", stages.back());
}

// MobileNetV2 (width 1.0) on 28x28 inputs with the stride-1 CIFAR stem: every (channels,
// resolution) of its batch norms, from torchvision's inverted-residual settings. oneDNN's choice
// of kernel depends on the channels and layout, not on the batch (checked: batch 4 and 128 give
// the same implementations), so a small batch keeps the test fast.
std::vector<Shape> mobilenet_v2_bn_shapes(int64_t batch) {
  struct Stage {
    int64_t expand, channels, repeats, stride;
  };
  const Stage stages[] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                          {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  std::set<std::pair<int64_t, int64_t>> seen;  // (channels, resolution)
  std::vector<Shape> shapes;
  auto add = [&](int64_t c, int64_t hw) {
    if (seen.insert({c, hw}).second) shapes.push_back({batch, c, hw, hw});
  };
  int64_t in = 32, hw = 28;
  add(in, hw);  // stem
  for (const Stage& st : stages)
    for (int64_t r = 0; r < st.repeats; ++r) {
      const int64_t hidden = in * st.expand, stride = r == 0 ? st.stride : 1;
      if (st.expand != 1) add(hidden, hw);  // 1x1 expansion
      hw = (hw + 2 - 3) / stride + 1;       // 3x3 depthwise, padding 1
      add(hidden, hw);
      add(st.channels, hw);  // 1x1 projection
      in = st.channels;
    }
  add(1280, hw);  // last 1x1 conv
  return shapes;
}

TEST(PrimitiveImplNormPool, MobileNetV2ShapesRunOnJitKernels) {
  const std::vector<Shape> shapes = mobilenet_v2_bn_shapes(4);
  ASSERT_EQ(shapes.back(), (Shape{4, 1280, 2, 2}));
  for (const Shape& s : shapes) run_batch_norm(s, false);
  run_pool(shapes.back(), [](const Variable& x) { return ops::global_avg_pool2d(x); });
  for (const Shape& s : shapes) expect_fast("batch_norm", s);
  expect_fast("global_avg_pool2d", shapes.back());
}

// ImageNet ResNets' 3x3/2 max-pool stem and average pooling with and without padding counts.
TEST(PrimitiveImplNormPool, PoolsRunOnJitKernels) {
  ops::Pool2dParams stem;
  stem.kernel_h = stem.kernel_w = 3;
  stem.pad_h = stem.pad_w = 1;
  const Shape s{4, 64, 28, 28};
  run_pool(s, [&](const Variable& x) { return ops::max_pool2d(x, stem); });
  for (bool include_pad : {true, false}) {
    stem.count_include_pad = include_pad;
    run_pool(s, [&](const Variable& x) { return ops::avg_pool2d(x, stem); });
  }
  expect_fast("max_pool2d", s);
  expect_fast("avg_pool2d", s);
}

}  // namespace
}  // namespace lpt
