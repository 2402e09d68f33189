#include "core/elementwise.h"

#include <cmath>

namespace lpt {

Tensor like_layout(const Tensor& b, const Tensor& a) {
  if (b.strides() == a.strides()) return b;
  Tensor t = Tensor::empty_like(a);
  t.copy_from(b);
  return t;
}

Tensor with_strides(const Tensor& b, const Shape& strides) {
  if (b.strides() == strides) return b;
  Tensor t = Tensor::empty_strided(b.shape(), strides, b.dtype());
  t.copy_from(b);
  return t;
}

Tensor add(const Tensor& a, const Tensor& b) {
  LPT_CHECK(a.shape() == b.shape(), "add: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
            " differ");
  const Tensor bb = like_layout(b, a.is_dense() ? a : a.contiguous());
  const Tensor aa = a.is_dense() ? a : a.contiguous();
  Tensor out = Tensor::empty_like(aa);
  const float* pa = aa.data<float>();
  const float* pb = bb.data<float>();
  float* po = out.data<float>();
  const int64_t n = out.numel();
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) po[i] = pa[i] + pb[i];
  return out;
}

void add_inplace(Tensor& a, const Tensor& b) {
  LPT_CHECK(a.shape() == b.shape(), "add_inplace: shapes ", shape_str(a.shape()), " and ",
            shape_str(b.shape()), " differ");
  LPT_CHECK(a.is_dense(), "add_inplace: destination ", a.describe(), " is not dense");
  const Tensor bb = like_layout(b, a);
  float* pa = a.data<float>();
  const float* pb = bb.data<float>();
  const int64_t n = a.numel();
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) pa[i] += pb[i];
}

void scale_inplace(Tensor& a, float s) {
  LPT_CHECK(a.is_dense(), "scale_inplace: tensor ", a.describe(), " is not dense");
  float* pa = a.data<float>();
  const int64_t n = a.numel();
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) pa[i] *= s;
}

void scale_add_bias_inplace(Tensor& a, float s, const Tensor& b) {
  if (!b.defined()) return scale_inplace(a, s);
  const int64_t c = b.numel();
  LPT_CHECK(a.ndim() >= 2 && a.shape()[1] == c && (a.ndim() == 2 ? a.is_contiguous() : a.is_channels_last()),
            "scale_add_bias_inplace: expected [N, ", c, "] row-major or channels-last [N, ", c, ", H, W], got ",
            a.describe());
  const Tensor bc = b.contiguous();
  const float* pb = bc.data<float>();
  float* pa = a.data<float>();
  const int64_t rows = a.numel() / c;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    float* row = pa + r * c;
#pragma omp simd
    for (int64_t j = 0; j < c; ++j) row[j] = row[j] * s + pb[j];
  }
}

FiniteMax finite_max_abs(const Tensor& t) {
  const Tensor d = t.is_dense() ? t : t.contiguous();
  const float* p = d.data<float>();
  const int64_t n = d.numel();
  float m = 0.0f;
  int bad = 0;
#pragma omp parallel for simd schedule(static) reduction(max : m) reduction(| : bad)
  for (int64_t i = 0; i < n; ++i) {
    bad |= !std::isfinite(p[i]);
    m = std::fmax(m, std::fabs(p[i]));
  }
  return {bad == 0, m};
}

}  // namespace lpt
