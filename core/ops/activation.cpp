#include "core/ops/activation.h"

#include "core/bit_mask.h"
#include "core/elementwise.h"

namespace lpt::ops {

namespace {
// The op's output, whose backward passes the gradient where the mask (out's memory order) is set.
Variable masked_result(const Variable& x, const Tensor& out, const char* op, Tensor mask) {
  const Shape strides = out.strides();
  return make_result(out, op, {x}, [mask = std::move(mask), strides](std::vector<Variable>& inputs, const Tensor& dout) {
    const Tensor g = with_strides(dout, strides);
    Tensor din = Tensor::empty_like(g);
    masked_copy(mask, g.data<float>(), din.data<float>(), g.numel());
    inputs[0].accumulate_grad(din);
  });
}
}  // namespace

// Written as a select on a local value, which GCC vectorises (std::max here compiles to a branch).
void relu_forward(float* out, const float* in, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float v = in[i];
    out[i] = v > 0.0f ? v : 0.0f;
  }
}

// The gradient passes where the output is positive (PyTorch's convention: 0 at x = 0). Backward
// keeps one bit per element, not the output (which the next layer may keep in a narrower form).
Tensor relu_mask(const float* out, int64_t n) { return bit_mask(out, n, Positive{}); }

Variable relu(const Variable& x) {
  const Tensor in = x.data().is_dense() ? x.data() : x.data().contiguous();
  Tensor out = Tensor::empty_like(in);
  relu_forward(out.data<float>(), in.data<float>(), in.numel());
  if (!grad_enabled() || !x.requires_grad()) return Variable(out);
  return masked_result(x, out, "relu", relu_mask(out.data<float>(), out.numel()));
}

void relu6_forward(float* out, const float* in, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float v = in[i];
    const float lo = v > 0.0f ? v : 0.0f;
    out[i] = lo < 6.0f ? lo : 6.0f;
  }
}

// The gradient passes strictly inside (0, 6), as in PyTorch's hardtanh backward; backward keeps
// one bit per element.
Tensor relu6_mask(const float* in, int64_t n) { return bit_mask(in, n, Between0And6{}); }

Variable relu6(const Variable& x) {
  const Tensor in = x.data().is_dense() ? x.data() : x.data().contiguous();
  Tensor out = Tensor::empty_like(in);
  relu6_forward(out.data<float>(), in.data<float>(), in.numel());
  if (!grad_enabled() || !x.requires_grad()) return Variable(out);
  return masked_result(x, out, "relu6", relu6_mask(in.data<float>(), in.numel()));
}

}  // namespace lpt::ops
