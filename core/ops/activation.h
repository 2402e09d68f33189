#pragma once
// ReLU and ReLU6: elementwise, OpenMP. Each op is a forward function over raw buffers, the mask
// its backward keeps, and an autograd wrapper whose backward applies the mask.
#include "core/autograd.h"

namespace lpt::ops {

void relu_forward(float* out, const float* in, int64_t n);
// Backward keeps a bit mask (core/bit_mask.h) of where the gradient passes, in the tensor's memory
// order, and applies it with masked_copy: relu_mask of the output, relu6_mask of the input.
Tensor relu_mask(const float* out, int64_t n);
Variable relu(const Variable& x);

void relu6_forward(float* out, const float* in, int64_t n);
Tensor relu6_mask(const float* in, int64_t n);
Variable relu6(const Variable& x);

}  // namespace lpt::ops
