#include "core/ops/activation.h"

#include "core/elementwise.h"

namespace lpt::ops {

// Written as a select on a local value, which GCC vectorises (std::max here compiles to a branch).
void relu_forward(float* out, const float* in, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float v = in[i];
    out[i] = v > 0.0f ? v : 0.0f;
  }
}

// The gradient passes where the output is positive (PyTorch's convention: 0 at x = 0).
void relu_backward(float* din, const float* out, const float* dout, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

Variable relu(const Variable& x) {
  const Tensor in = x.data().is_dense() ? x.data() : x.data().contiguous();
  Tensor out = Tensor::empty_like(in);
  relu_forward(out.data<float>(), in.data<float>(), in.numel());
  return make_result(out, "relu", {x}, [out](std::vector<Variable>& inputs, const Tensor& dout) {
    const Tensor g = like_layout(dout, out);
    Tensor din = Tensor::empty_like(out);
    relu_backward(din.data<float>(), out.data<float>(), g.data<float>(), out.numel());
    inputs[0].accumulate_grad(din);
  });
}

void relu6_forward(float* out, const float* in, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float v = in[i];
    const float lo = v > 0.0f ? v : 0.0f;
    out[i] = lo < 6.0f ? lo : 6.0f;
  }
}

// The gradient passes strictly inside (0, 6), as in PyTorch's hardtanh backward.
void relu6_backward(float* din, const float* in, const float* dout, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) din[i] = (in[i] > 0.0f && in[i] < 6.0f) ? dout[i] : 0.0f;
}

Variable relu6(const Variable& x) {
  const Tensor in = x.data().is_dense() ? x.data() : x.data().contiguous();
  Tensor out = Tensor::empty_like(in);
  relu6_forward(out.data<float>(), in.data<float>(), in.numel());
  return make_result(out, "relu6", {x}, [in](std::vector<Variable>& inputs, const Tensor& dout) {
    const Tensor g = like_layout(dout, in);
    Tensor din = Tensor::empty_like(in);
    relu6_backward(din.data<float>(), in.data<float>(), g.data<float>(), in.numel());
    inputs[0].accumulate_grad(din);
  });
}

}  // namespace lpt::ops
