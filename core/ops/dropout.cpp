#include "core/ops/dropout.h"

namespace lpt::ops {

// One Philox block gives the draws of four consecutive logical indices.
void dropout_mask(uint8_t* keep, int64_t n, float p, const RandomStream& stream, int64_t first) {
  const int64_t b0 = first / 4, b1 = (first + n + 3) / 4;
#pragma omp parallel for schedule(static)
  for (int64_t b = b0; b < b1; ++b) {
    const std::array<uint32_t, 4> bits = stream.bits4(uint64_t(b));
    for (int64_t j = 0; j < 4; ++j) {
      const int64_t i = 4 * b + j - first;
      if (i >= 0 && i < n) keep[i] = uniform01(bits[size_t(j)]) >= p;
    }
  }
}

// Walks each (n, c) plane in logical order, so consecutive draws still share their Philox block.
void dropout_mask_channels_last(uint8_t* keep, int64_t N, int64_t C, int64_t HW, float p,
                                const RandomStream& stream, int64_t first_index) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const uint64_t first = uint64_t(first_index + (n * C + c) * HW);
      uint8_t* plane = keep + n * HW * C + c;
      std::array<uint32_t, 4> bits = stream.bits4(first >> 2);
      for (int64_t hw = 0; hw < HW; ++hw) {
        const uint64_t i = first + uint64_t(hw);
        if (hw > 0 && (i & 3) == 0) bits = stream.bits4(i >> 2);
        plane[hw * C] = uniform01(bits[i & 3]) >= p;
      }
    }
}

// Multiplying (rather than selecting zero) lets an inf or NaN input still show up as NaN, as in PyTorch.
void dropout_forward(float* out, const float* in, const uint8_t* keep, float scale, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = in[i] * (float(keep[i]) * scale);
}

void dropout_backward(float* din, const float* dout, const uint8_t* keep, float scale, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) din[i] = dout[i] * (float(keep[i]) * scale);
}

Variable dropout(const Variable& x, float p, bool training, const RandomStream& stream, int64_t first) {
  LPT_CHECK(p >= 0.0f && p < 1.0f, "dropout: probability ", p, " is outside [0, 1)");
  if (!training || p == 0.0f) return x;
  const bool channels_last = x.data().is_channels_last() && !x.data().is_contiguous();
  const Tensor in = channels_last ? x.data() : x.data().contiguous();
  // The mask is stored in the input's memory order so the kernels run over flat buffers.
  Tensor keep = Tensor::empty_strided(in.shape(), in.strides(), DType::u8);
  if (channels_last)
    dropout_mask_channels_last(keep.data<uint8_t>(), in.size(0), in.size(1), in.size(2) * in.size(3), p, stream,
                               first);
  else
    dropout_mask(keep.data<uint8_t>(), in.numel(), p, stream, first);
  const float scale = 1.0f / (1.0f - p);
  Tensor out = Tensor::empty_like(in);
  dropout_forward(out.data<float>(), in.data<float>(), keep.data<uint8_t>(), scale, in.numel());
  return make_result(out, "dropout", {x}, [keep, scale](std::vector<Variable>& inputs, const Tensor& dout) {
    Tensor g = dout;
    if (dout.strides() != keep.strides()) {
      g = Tensor::empty_strided(keep.shape(), keep.strides());
      g.copy_from(dout);
    }
    Tensor din = Tensor::empty_like(g);
    dropout_backward(din.data<float>(), g.data<float>(), keep.data<uint8_t>(), scale, g.numel());
    inputs[0].accumulate_grad(din);
  });
}

}  // namespace lpt::ops
