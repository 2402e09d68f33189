#include "layers/quant/estimator.h"

#include <algorithm>
#include <cmath>

#include "core/bit_mask.h"
#include "core/elementwise.h"
#include "core/error.h"

namespace lpt {

const char* execution_name(Execution e) {
  switch (e) {
    case Execution::automatic: return "auto";
    case Execution::emulated: return "emulated";
    case Execution::native: return "native";
  }
  return "?";
}

const char* estimator_name(Estimator e) {
  switch (e) {
    case Estimator::ste: return "ste";
    case Estimator::pwl: return "pwl";
    case Estimator::mad: return "mad";
  }
  return "?";
}

namespace {
// f(begin, end, clip) over spans of elements of one group of `l` (a group index per span, not a
// division per element), in parallel over fixed chunks of 2^14 elements (a multiple of 8, so a
// thread that sets bits owns whole bytes).
template <class F>
void for_each_group_span(const formats::BufferLayout& l, const std::vector<float>& clip, F f) {
  const int64_t n = l.numel();
  const formats::RunGeometry& g = l.groups;
  constexpr int64_t kChunk = int64_t{1} << 14;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < n; b += kChunk) {
    const int64_t e = std::min(n, b + kChunk);
    for (int64_t m = b; m < e;) {
      const int64_t span = m / g.inner, end = std::min(e, (span + 1) * g.inner);
      f(m, end, clip[size_t(span % g.len)]);
      m = end;
    }
  }
}
}  // namespace

void estimator_backward(Estimator e, const float* x, const float* dy, float* dx, const std::vector<float>& clip,
                        const formats::BufferLayout& l) {
  const int64_t n = l.numel();
  if (e == Estimator::ste || clip.empty()) {
#pragma omp parallel for simd schedule(static)
    for (int64_t m = 0; m < n; ++m) dx[m] = dy[m];
    return;
  }
  LPT_CHECK(int64_t(clip.size()) == l.num_groups(), "estimator: ", clip.size(), " clip values for ", l.num_groups(),
            " groups");
  const bool mad = e == Estimator::mad;
  for_each_group_span(l, clip, [&](int64_t m, int64_t end, float s) {
#pragma omp simd
    for (int64_t i = m; i < end; ++i) {
      const float a = std::fabs(x[i]);
      dx[i] = a <= s ? dy[i] : mad ? dy[i] * (s / a) : 0.0f;
    }
  });
}

Tensor pwl_mask(const float* x, const std::vector<float>& clip, const formats::BufferLayout& l) {
  const int64_t n = l.numel();
  LPT_CHECK(int64_t(clip.size()) == l.num_groups(), "estimator: ", clip.size(), " clip values for ", l.num_groups(),
            " groups");
  Tensor mask = zero_bit_mask(n);
  uint8_t* bits = mask.data<uint8_t>();
  for_each_group_span(l, clip, [&](int64_t m, int64_t end, float s) { set_mask_bits(x, bits, m, end, AbsAtMost{s}); });
  return mask;
}

Variable quantized_input(const Variable& x, const Tensor& source, Tensor xq, Estimator e, std::vector<float> clip,
                         const formats::BufferLayout& l, std::function<Tensor(const Tensor&)> grad_transform) {
  LPT_CHECK(source.shape() == xq.shape() && source.strides() == xq.strides(), "quantize: ", source.describe(),
            " and its quantization ", xq.describe(), " differ in layout");
  const bool identity = e == Estimator::ste || clip.empty();
  // What the estimator reads is kept: x for MAD, PWL's one bit per element, nothing for STE.
  const bool track = grad_enabled() && x.requires_grad() && !identity;
  const Tensor saved_x = track && e == Estimator::mad ? source : Tensor();
  const Tensor mask = track && e == Estimator::pwl ? pwl_mask(source.data<float>(), clip, l) : Tensor();
  const Shape strides = xq.strides();  // the layout l describes
  return make_result(std::move(xq), "quantize", {x},
                     [saved_x, mask, strides, e, clip = std::move(clip), l, grad_transform = std::move(grad_transform)](
                         std::vector<Variable>& in, const Tensor& dout) {
                       if (!in[0].requires_grad()) return;
                       Tensor dy = with_strides(dout, strides);
                       if (saved_x.defined() || mask.defined()) {
                         Tensor dx = Tensor::empty_like(dy);
                         if (mask.defined()) masked_copy(mask, dy.data<float>(), dx.data<float>(), dy.numel());
                         else estimator_backward(e, saved_x.data<float>(), dy.data<float>(), dx.data<float>(), clip, l);
                         dy = dx;
                       }
                       in[0].accumulate_grad(grad_transform ? grad_transform(dy) : dy);
                     });
}

}  // namespace lpt
