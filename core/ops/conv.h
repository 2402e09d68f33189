#pragma once
// 2-D convolution through oneDNN primitives (forward, backward-data, backward-weights), created
// once per shape and parameters and reused. Activations are channels-last; weights are OIHW.
#include "core/autograd.h"
#include "core/ops/backward_operands.h"
#include "core/ops/gemm_lanes.h"

namespace lpt::ops {

// PyTorch semantics: dilation 1 means none; padding is symmetric; the output size is floored.
struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1, groups = 1;
};

// The output shape [N, C_out, H_out, W_out] of conv2d(x, w); throws naming both shapes when the
// input, weight and parameters do not fit together.
Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p);

// x: [N, C_in, H, W] in any layout (channels-last is used as is; others are copied to it).
// w: [C_out, C_in/groups, KH, KW] OIHW. bias: [C_out], or an undefined Variable() for none.
// Returns channels-last [N, C_out, H_out, W_out]. Gradients: dx in x's layout, dw OIHW, db [C_out];
// only those whose inputs require a gradient are computed. With `backward`, the backward GEMMs take
// its operands; the bias gradient is then summed from the incoming dy itself (it is no GEMM).
// With `lanes`, the GEMMs it marks run in bf16 (their operands must be bf16-exact) or, for the
// forward GEMM, in int8 on `int8`'s operands (x's in nhwc order, w's OIHW; x's and w's data are then
// not read, only their shapes: their values are the int8 forms'), and every call is recorded there.
Variable conv2d(const Variable& x, const Variable& w, const Variable& bias, const Conv2dParams& p,
                const BackwardOperands* backward = nullptr, const GemmLanes* lanes = nullptr,
                const ForwardInt8* int8 = nullptr);

// Evaluation in the int8 lane (SPEC §9): what follows a conv, fused into its int8 primitive as
// oneDNN post-ops (Int8Epilogue): y = act(relu?(sum·scale·multiplier + shift) + residual), where
// sum·scale is the int8 GEMM's output. A batch norm in evaluation folds into multiplier and shift.
struct ConvEpilogue {
  Tensor multiplier, shift;  // f32 [C_out]
  bool relu = false;
  Tensor residual;  // undefined, or the output's shape in any layout
  Activation act = Activation::none;
};

// Without gradients, where `lanes` puts the forward GEMM in int8 and `int8` holds its operands (as
// for conv2d; x and w give only shapes): the conv and its epilogue in one primitive, channels-last,
// the call recorded in `lanes`. An undefined result when oneDNN has only a reference kernel for
// that primitive: the caller then runs the conv and the ops after it one by one.
Variable conv2d_int8_fused(const Variable& x, const Variable& w, const Conv2dParams& p, const GemmLanes& lanes,
                           const ForwardInt8& int8, const ConvEpilogue& e);

}  // namespace lpt::ops
