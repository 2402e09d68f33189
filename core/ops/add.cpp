#include "core/ops/add.h"

#include "core/elementwise.h"

namespace lpt::ops {

void add_forward(float* out, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

Variable add(const Variable& a, const Variable& b) {
  LPT_CHECK(a.shape() == b.shape(), "add: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
            " differ; a residual add needs equal shapes");
  const Tensor ta = a.data().is_dense() ? a.data() : a.data().contiguous();
  const Tensor tb = like_layout(b.data(), ta);
  Tensor out = Tensor::empty_like(ta);
  add_forward(out.data<float>(), ta.data<float>(), tb.data<float>(), out.numel());
  // Both inputs receive dout itself: gradients are never modified in place, so sharing it is safe,
  // and add(x, x) accumulates dout twice.
  return make_result(out, "add", {a, b}, [](std::vector<Variable>& inputs, const Tensor& dout) {
    for (Variable& in : inputs)
      if (in.requires_grad()) in.accumulate_grad(dout);
  });
}

}  // namespace lpt::ops
