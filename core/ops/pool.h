#pragma once
// 2-D max and average pooling over [N, C, H, W] activations through oneDNN primitives created
// once per shape and reused (JIT kernels on channels-last data). An input in another layout is
// converted first; outputs are channels-last. Output size floor((H + 2·pad - kernel)/stride) + 1,
// as PyTorch's default (ceil_mode = false); padding is at most half the kernel, as in PyTorch.
#include "core/autograd.h"

namespace lpt::ops {

struct Pool2dParams {
  int64_t kernel_h = 2, kernel_w = 2, stride_h = 2, stride_w = 2, pad_h = 0, pad_w = 0;
  // Average pooling: divide by the whole window (true) or only by its elements inside the input.
  bool count_include_pad = true;
};

// Padding never wins a max; the gradient goes to the first maximum of each window in row-major
// order, as in PyTorch.
Variable max_pool2d(const Variable& x, const Pool2dParams& p);
Variable avg_pool2d(const Variable& x, const Pool2dParams& p);
// [N, C, H, W] -> [N, C, 1, 1], the mean over H and W.
Variable global_avg_pool2d(const Variable& x);

}  // namespace lpt::ops
