#pragma once
// Batch normalization over the channels of an [N, C, H, W] activation, with its statistics and
// gradient reductions accumulated in double (as PyTorch's CPU kernels do), not by oneDNN, whose
// batch norms accumulate in float: the backward subtracts nearly equal means, and float sums made
// lpt's one-step weight updates ten times less accurate than PyTorch's (issue 14).
//
// Every per-channel sum runs over fixed chunks of rows, each chunk in row order, then the chunks
// in order: results do not depend on the thread count. Activations are computed channels-last
// (rows of C values); an input in another layout is converted first; the output is channels-last.
//
// The same kernels serve synchronised batch norm (SPEC §10, /distributed/sync_batchnorm): given a
// ProcessSum, the forward's per-channel sums (Σx, then Σ(x − μ)²) and the backward's (Σdy,
// Σdy·(x − μ)) go through it, which adds every process's values in a fixed order and gives all
// processes the same result (core/dist's World::sum_in_rank_order), so every process normalises
// with the global mean and biased variance and back-propagates through them exactly. dgamma and
// dbeta stay this process's own sums (the data-parallel gradient average adds them over processes,
// as for every other parameter); dx uses the global sums; the running statistics take the global
// mean and the unbiased variance over the global count.
#include <functional>

#include "core/autograd.h"

namespace lpt::ops {

struct BatchNormParams {
  float momentum = 0.1f;
  float eps = 1e-5f;
  bool training = true;    // normalise with the batch's statistics and update the running ones
  bool fuse_relu = false;  // output relu(bn(x)) in the same pass
};

// Adds each process's data[0..n) elementwise over all processes, in place, the same on every one.
// Empty: one process (local statistics).
using ProcessSum = std::function<void(double* data, int64_t n)>;

// x: [N, C, H, W]; weight (gamma), bias (beta): [C]; running_mean, running_var: [C] f32.
// Training: y = gamma·(x - mean)/sqrt(var + eps) + beta with the batch mean and biased variance,
// and running = (1 - momentum)·running + momentum·batch_stat with the unbiased variance
// (n/(n-1), n = N·H·W over all processes) in running_var, as PyTorch does — also under
// NoGradGuard. Inference: the same with the running statistics, which stay unchanged (`sum` is
// not used). Gradients for x, weight and bias, only for those that require one. A fused ReLU
// passes NaN through.
Variable batch_norm2d(const Variable& x, const Variable& weight, const Variable& bias, Tensor& running_mean,
                      Tensor& running_var, const BatchNormParams& p, const ProcessSum& sum = {});

}  // namespace lpt::ops
