#pragma once
// Shape changes. flatten turns [N, ...] into [N, prod(...)] in logical (PyTorch NCHW) order, so a
// following linear layer sees the features in the order PyTorch's nn.Flatten gives and
// checkpoints stay interchangeable (SPEC §7).
#include "core/autograd.h"

namespace lpt::ops {

// Channels-last memory (n, hw, c) to NCHW order (n, c, hw) and back, for N x C x HW elements.
void channels_last_to_nchw(float* out, const float* in, int64_t N, int64_t C, int64_t HW);
void nchw_to_channels_last(float* out, const float* in, int64_t N, int64_t C, int64_t HW);

// A contiguous input gives a view; a channels-last one is permuted (a plain copy for
// [N, C, 1, 1]). The gradient comes back in x's shape and layout (contiguous for other layouts).
Variable flatten(const Variable& x);

}  // namespace lpt::ops
