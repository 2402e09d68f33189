#pragma once
// Fully connected layer y = x·wᵀ + b through oneDNN matmul primitives (forward, backward-data,
// backward-weights), created once per shape and reused; the bias gradient is a plain loop.
#include "core/autograd.h"
#include "core/ops/backward_operands.h"
#include "core/ops/gemm_lanes.h"

namespace lpt::ops {

// x: [N, in], w: [out, in] (PyTorch layout), bias: [out] or an undefined Variable() for none.
// Returns contiguous [N, out]. Only the gradients whose inputs require one are computed. With
// `backward`, the backward GEMMs take its operands (the bias gradient sums the incoming dy). With
// `lanes`, the GEMMs it marks run in bf16 (operands bf16-exact) or, for the forward GEMM, in int8
// on `int8`'s row-major operands (x's and w's data are then not read), every call recorded there.
Variable linear(const Variable& x, const Variable& w, const Variable& bias,
                const BackwardOperands* backward = nullptr, const GemmLanes* lanes = nullptr,
                const ForwardInt8* int8 = nullptr);

// db[j] = sum over rows i of dy[i, j] for a row-major [rows, cols] matrix: the bias gradient of a
// linear layer, or of a convolution with channels-last dy (rows = N·H·W). The summation order is
// fixed (chunks of rows summed in order), so the result does not depend on the thread count.
void bias_backward(float* db, const float* dy, int64_t rows, int64_t cols);

}  // namespace lpt::ops
