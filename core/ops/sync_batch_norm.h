#pragma once
// Synchronised batch norm (SPEC §10, /distributed/sync_batchnorm): batch norm in training mode
// whose statistics are those of the global batch of a data-parallel run. Each process holds its
// shard of the batch; the per-channel sums of the forward (Σx, then Σ(x − μ)²) and of the backward
// (Σdy, Σdy·x̂) go through `sum`, which adds every process's values in a fixed order and gives all
// processes the same result (core/dist's World::sum_in_rank_order), so every process normalises
// with the global mean and biased variance and back-propagates through them exactly.
//
// Computed by plain loops in double per channel (each channel's sums in row order, so results do
// not depend on the thread count), not by oneDNN: with `sum` the identity it equals batch_norm2d
// up to rounding. dgamma and dbeta are this process's own sums (the data-parallel gradient
// average adds them over processes, as for every other parameter); dx uses the global sums.
// The running statistics take the global mean and the unbiased variance over the global count.
#include <functional>

#include "core/ops/batch_norm.h"

namespace lpt::ops {

// Adds each process's data[0..n) elementwise over all processes, in place, the same on every one.
using ProcessSum = std::function<void(double* data, int64_t n)>;

// Training mode only (p.training); x: [N, C, H, W] f32, output channels-last.
Variable sync_batch_norm2d(const Variable& x, const Variable& weight, const Variable& bias, Tensor& running_mean,
                           Tensor& running_var, const BatchNormParams& p, const ProcessSum& sum);

}  // namespace lpt::ops
