#pragma once
// Elementwise arithmetic on whole tensors, parallel with OpenMP and vectorised by the compiler.
// Results take the layout of the first operand; a second operand in another layout is reordered.
#include "core/tensor.h"

namespace lpt {

Tensor add(const Tensor& a, const Tensor& b);  // a + b
void add_inplace(Tensor& a, const Tensor& b);   // a += b
void scale_inplace(Tensor& a, float s);         // a *= s
// a = a·s + b[c] for a with its channels innermost in memory (channels-last [N, C, H, W], or
// [N, C] row-major), b [C] (undefined: a *= s): a GEMM output whose operands' scales were
// factored out, and its bias.
void scale_add_bias_inplace(Tensor& a, float s, const Tensor& b);
// b in a's layout (no copy when it already is).
Tensor like_layout(const Tensor& b, const Tensor& a);
// b with the given strides (no copy when it already has them).
Tensor with_strides(const Tensor& b, const Shape& strides);
// The largest |x| and whether all values are finite, in one pass.
struct FiniteMax {
  bool finite;
  float max_abs;
};
FiniteMax finite_max_abs(const Tensor& t);

}  // namespace lpt
