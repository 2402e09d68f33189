#pragma once
// ReLU and ReLU6: elementwise, OpenMP. Each op is a forward/backward pair of plain functions over
// raw buffers plus an autograd wrapper; backward functions write the input gradient.
#include "core/autograd.h"

namespace lpt::ops {

void relu_forward(float* out, const float* in, int64_t n);
// Backward keeps a bit mask (core/bit_mask.h) of where the gradient passes: relu_mask of the
// output, relu6_mask of the input, both in the tensor's memory order.
Tensor relu_mask(const float* out, int64_t n);
void relu_backward(float* din, const Tensor& mask, const float* dout, int64_t n);
Variable relu(const Variable& x);

void relu6_forward(float* out, const float* in, int64_t n);
Tensor relu6_mask(const float* in, int64_t n);
void relu6_backward(float* din, const Tensor& mask, const float* dout, int64_t n);
Variable relu6(const Variable& x);

}  // namespace lpt::ops
