// Pools at the shapes of the networks we train must run on oneDNN's fast JIT kernels, never on its
// reference or generic C++ fallbacks: builds each shape, runs forward (training and inference) and
// backward, and checks the recorded implementations. (Batch norm has its own kernels.)
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/onednn/context.h"
#include "core/ops/pool.h"

namespace lpt {
namespace {

// The fast family: oneDNN's JIT pooling ("jit:avx512_core", "jit:avx2", ...).
bool is_fast(const std::string& impl) { return impl.find("ref") == std::string::npos && impl.rfind("jit:", 0) == 0; }

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

template <class Pool>
void run_pool(const Shape& shape, Pool pool) {
  Variable x(Tensor::full(shape, 0.5f, MemoryFormat::channels_last), true);
  Variable y = pool(x);
  y.backward(Tensor::full(y.shape(), 1.0f, MemoryFormat::channels_last));
  ASSERT_TRUE(x.has_grad());
  NoGradGuard no_grad;
  pool(x);
}

// The global average pool over ResNet-20's last stage (64 channels at 7x7, batch 128) and over
// MobileNetV2's last 1x1 conv (1280 channels at 2x2).
TEST(PrimitiveImplPool, GlobalAveragePoolsRunOnJitKernels) {
  for (const Shape& s : {Shape{128, 64, 7, 7}, Shape{4, 1280, 2, 2}}) {
    run_pool(s, [](const Variable& x) { return ops::global_avg_pool2d(x); });
    expect_fast("global_avg_pool2d", s);
  }
}

// ImageNet ResNets' 3x3/2 max-pool stem and average pooling with and without padding counts.
TEST(PrimitiveImplPool, PoolsRunOnJitKernels) {
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
