#pragma once
// Inverted dropout as PyTorch does it: kept elements are scaled by 1/(1-p) during training, so
// evaluation is the identity. The mask is a pure function of the random stream and each element's
// logical (PyTorch-layout) index: element i is kept iff stream.uniform(i) >= p. It does not
// depend on thread count or memory layout and needs no saved generator state to reproduce. A
// tensor that is one process's shard of a batch (SPEC §10) passes `first`, the logical index of its
// first element in the whole batch's tensor, and gets that tensor's mask for its part.
#include "core/autograd.h"
#include "core/philox.h"

namespace lpt::ops {

// keep[i] = stream.uniform(first + i) >= p, for tensors whose memory order is the logical order.
void dropout_mask(uint8_t* keep, int64_t n, float p, const RandomStream& stream, int64_t first = 0);
// The same mask for a channels-last [N, C, HW] tensor: logical (n, c, hw) lies at memory (n, hw, c).
void dropout_mask_channels_last(uint8_t* keep, int64_t N, int64_t C, int64_t HW, float p,
                                const RandomStream& stream, int64_t first = 0);
// out = in * keep * scale (and the same for the gradient), buffers and mask in one memory order.
void dropout_forward(float* out, const float* in, const uint8_t* keep, float scale, int64_t n);
void dropout_backward(float* din, const float* dout, const uint8_t* keep, float scale, int64_t n);

// Returns x itself when !training or p == 0; p must lie in [0, 1).
Variable dropout(const Variable& x, float p, bool training, const RandomStream& stream, int64_t first = 0);

}  // namespace lpt::ops
