#pragma once
// A quantizer inside the autograd graph: forward passes the fake-quantized tensor on; backward
// turns dy into dx by the gradient estimator of SPEC §4 and, for weights, quantizes the result
// into the weight-gradient format.
#include <functional>
#include <vector>

#include "core/autograd.h"
#include "formats/quantize_options.h"
#include "layers/quant/gemm_formats.h"

namespace lpt {

// dx[m] = dy[m]·g(x[m]) with g from `e` and the clip value of m's group of `l` (an empty `clip`:
// nothing clipped, g = 1). Backward keeps x for MAD, a 1-bit mask for PWL, nothing for STE. `source` is x's data in the memory order `l` describes (x.data() or a
// copy in another layout) and `xq` its quantization, laid out alike; `grad_transform` (may be
// empty) maps dx to what x's gradient receives.
Variable quantized_input(const Variable& x, const Tensor& source, Tensor xq, Estimator e, std::vector<float> clip,
                         const formats::BufferLayout& l, std::function<Tensor(const Tensor&)> grad_transform);

// PWL's backward needs only whether |x| ≤ its group's clip value: a bit mask (core/bit_mask.h) in
// memory order, what quantized_input keeps for PWL instead of x (SPEC §9); masked_copy applies it.
Tensor pwl_mask(const float* x, const std::vector<float>& clip, const formats::BufferLayout& l);

// The backward rule alone on buffers (x, dy, dx in the memory order `l` describes).
void estimator_backward(Estimator e, const float* x, const float* dy, float* dx, const std::vector<float>& clip,
                        const formats::BufferLayout& l);

}  // namespace lpt
