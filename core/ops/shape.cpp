#include "core/ops/shape.h"


namespace lpt::ops {

void channels_last_to_nchw(float* out, const float* in, int64_t N, int64_t C, int64_t HW) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const float* src = in + n * HW * C + c;
      float* dst = out + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) dst[i] = src[i * C];
    }
}

void nchw_to_channels_last(float* out, const float* in, int64_t N, int64_t C, int64_t HW) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < HW; ++i) {
      const float* src = in + n * C * HW + i;
      float* dst = out + (n * HW + i) * C;
      for (int64_t c = 0; c < C; ++c) dst[c] = src[c * HW];
    }
}

Variable flatten(const Variable& x) {
  const Tensor& in = x.data();
  LPT_CHECK(in.ndim() >= 2, "flatten: input ", in.describe(), " needs at least 2 dimensions [N, ...]");
  const Shape in_shape = in.shape();
  const int64_t N = in_shape[0];
  const int64_t D = shape_numel(Shape(in_shape.begin() + 1, in_shape.end()));

  if (!in.is_contiguous() && in.is_channels_last()) {
    // Channels-last with H*W > 1: permute into logical order. ([N, C, 1, 1], global pooling's
    // output, counts as contiguous and takes the free view below.)
    const int64_t C = in_shape[1], HW = in_shape[2] * in_shape[3];
    Tensor out = Tensor::empty({N, D});
    channels_last_to_nchw(out.data<float>(), in.data<float>(), N, C, HW);
    return make_result(out, "flatten", {x}, [in_shape, C, HW](std::vector<Variable>& inputs, const Tensor& dout) {
      const Tensor g = dout.contiguous();
      Tensor din = Tensor::empty(in_shape, DType::f32, MemoryFormat::channels_last);
      nchw_to_channels_last(din.data<float>(), g.data<float>(), in_shape[0], C, HW);
      inputs[0].accumulate_grad(din);
    });
  }
  const Tensor out = in.contiguous().view({N, D});
  return make_result(out, "flatten", {x}, [in_shape](std::vector<Variable>& inputs, const Tensor& dout) {
    inputs[0].accumulate_grad(dout.contiguous().view(in_shape));
  });
}

}  // namespace lpt::ops
