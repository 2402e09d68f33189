#pragma once
// Batch normalization over the channels of an [N, C, H, W] activation, through oneDNN primitives
// created once per shape and reused. Activations are computed channels-last (nhwc), where oneDNN
// 2.6 runs JIT kernels: bnorm_jit:avx512_core when C is a multiple of 16, bnorm_tbb_jit:avx2 for
// other multiples of 8 (plain NCHW would get the generic ncsp_bnorm). Other channel counts get
// bnorm_tbb_jit:sse41, or the generic nspc_bnorm kernel with the fused ReLU or for tiny C (3).
// An input in another layout is converted first; the output is channels-last.
#include "core/autograd.h"

namespace lpt::ops {

struct BatchNormParams {
  float momentum = 0.1f;
  float eps = 1e-5f;
  bool training = true;    // normalise with the batch's statistics and update the running ones
  bool fuse_relu = false;  // output relu(bn(x)) in the same pass (oneDNN's fuse_norm_relu)
};

// x: [N, C, H, W]; weight (gamma), bias (beta): [C]; running_mean, running_var: [C] f32.
// Training: y = gamma·(x - mean)/sqrt(var + eps) + beta with the batch mean and biased variance,
// and running = (1 - momentum)·running + momentum·batch_stat with the unbiased variance
// (n/(n-1), n = N·H·W) in running_var, as PyTorch does — also under NoGradGuard.
// Inference: the same with the running statistics, which stay unchanged.
// Gradients for x, weight and bias, only for those that require one.
Variable batch_norm2d(const Variable& x, const Variable& weight, const Variable& bias, Tensor& running_mean,
                      Tensor& running_var, const BatchNormParams& p);

}  // namespace lpt::ops
