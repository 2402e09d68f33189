#pragma once
// Exact conversions between fp32 and bfloat16 for the bf16 GEMM lane (SPEC §9). The lane only
// takes values a format made bf16-exact, so conversion is a truncation that must lose nothing.
#include "core/tensor.h"

namespace lpt {

struct Bf16Copy {
  Tensor data;    // bf16, same shape and strides as the source
  float min_abs;  // the smallest nonzero |value| (+inf when all are zero)
};

// A bf16 copy of a dense f32 tensor, with its smallest nonzero magnitude in the same pass. A value
// that is not a bf16 (low 16 bits set) or not finite throws: the format claimed an exactness it
// does not have, or the data holds NaN/Inf.
Bf16Copy to_bf16_exact(const Tensor& x);

// The f32 values of a dense bf16 tensor (exact), same shape and strides.
Tensor bf16_to_f32(const Tensor& x);

// bf16 dot-product and AMX instructions flush inputs and products below fp32's normal range
// (2^−126) to zero. True when no input and no product of two nonzero operands with these smallest
// magnitudes can be that small, so the bf16 GEMM loses nothing.
bool bf16_products_normal(float min_abs_a, float min_abs_b);

}  // namespace lpt
