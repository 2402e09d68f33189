#pragma once
// Exact conversions between fp32 and bfloat16 for the bf16 GEMM lane (SPEC §9). The lane only
// takes values a format made bf16-exact, so conversion is a truncation that must lose nothing.
#include "core/tensor.h"

namespace lpt {

// The source's values are fl32(data·scale) bit for bit (scale 1: data itself).
struct Bf16Copy {
  Tensor data;         // bf16, same shape and strides as the source
  float min_abs;       // the smallest nonzero |data| (+inf when all are zero; 0: see to_bf16_exact)
  float scale = 1.0f;  // the source's format_scale()
};

// A bf16 copy of a dense f32 tensor, with its smallest nonzero magnitude in the same pass. With a
// format_scale() s ≠ 1 the copy holds the elements e = x/s, each checked to give x = fl32(e·s)
// back. A value that is not so held (not a bf16, or not a bf16 times s) or not finite throws: the
// format claimed an exactness it does not have, or the data holds NaN/Inf. Only an fp32 subnormal
// x = fl32(e·s) may have lost e's bits; the copy then says so with min_abs 0, which
// bf16_products_normal refuses, so its GEMM runs in fp32 on the values themselves.
Bf16Copy to_bf16_exact(const Tensor& x);

// The f32 values fl32(data·scale) of a dense bf16 tensor, same shape and strides: exactly the
// values to_bf16_exact was given.
Tensor bf16_to_f32(const Tensor& x, float scale = 1.0f);

// bf16 dot-product and AMX instructions flush inputs and products below fp32's normal range
// (2^−126) to zero. True when no input and no product of two nonzero operands with these smallest
// magnitudes can be that small, so the bf16 GEMM loses nothing.
bool bf16_products_normal(float min_abs_a, float min_abs_b);

}  // namespace lpt
