#pragma once
// Elementwise addition of two same-shape tensors (residual connections). Forward over raw
// buffers plus an autograd wrapper; the backward of a sum is the identity, so it has no kernel.
#include "core/autograd.h"

namespace lpt::ops {

void add_forward(float* out, const float* a, const float* b, int64_t n);
// a + b in a's layout (b is reordered when its layout differs).
Variable add(const Variable& a, const Variable& b);

}  // namespace lpt::ops
