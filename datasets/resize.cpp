#include "datasets/resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lpt::data {

ImageView crop_view(const ImageView& v, int64_t top, int64_t left, int64_t h, int64_t w) {
  LPT_CHECK(top >= 0 && left >= 0 && h > 0 && w > 0 && top + h <= v.h && left + w <= v.w, "crop_view: window (",
            top, ", ", left, ") of ", h, "x", w, " does not fit in a ", v.h, "x", v.w, " image");
  return {v.data + top * v.row_stride + left, v.c, h, w, v.row_stride, v.plane_stride};
}

namespace {

// For each output position, the first input tap and the normalized weights of `taps` taps
// (zero-padded to the widest filter), as PIL's ImagingResample computes them.
struct Taps {
  int64_t width = 0;
  std::vector<int64_t> first;
  std::vector<float> weights;  // out_size x width
};

Taps make_taps(int64_t in_size, int64_t out_size) {
  const double scale = double(in_size) / double(out_size);
  const double filter_scale = std::max(scale, 1.0);
  const double support = filter_scale;  // the triangle filter's support is 1
  Taps t;
  t.width = int64_t(std::ceil(support)) * 2 + 1;
  t.first.resize(size_t(out_size));
  t.weights.assign(size_t(out_size * t.width), 0.0f);
  std::vector<double> w(size_t(t.width));
  for (int64_t i = 0; i < out_size; ++i) {
    const double center = (double(i) + 0.5) * scale;
    const int64_t lo = std::max<int64_t>(int64_t(center - support + 0.5), 0);
    const int64_t hi = std::min<int64_t>(int64_t(center + support + 0.5), in_size);
    double total = 0.0;
    for (int64_t k = 0; k < hi - lo; ++k) {
      w[size_t(k)] = std::max(0.0, 1.0 - std::abs((double(k + lo) - center + 0.5) / filter_scale));
      total += w[size_t(k)];
    }
    t.first[size_t(i)] = lo;
    for (int64_t k = 0; k < hi - lo; ++k) {
      t.weights[size_t(i * t.width + k)] = float(total > 0.0 ? w[size_t(k)] / total : 0.0);
    }
  }
  return t;
}

}  // namespace

void resize_bilinear(const ImageView& src, int64_t out_h, int64_t out_w, float* out) {
  LPT_CHECK(out_h > 0 && out_w > 0 && src.h > 0 && src.w > 0, "resize_bilinear: cannot resize ", src.h, "x",
            src.w, " to ", out_h, "x", out_w);
  const Taps tx = make_taps(src.w, out_w);
  const Taps ty = make_taps(src.h, out_h);
  // Horizontal pass into [C, src.h, out_w], then vertical pass into [C, out_h, out_w].
  std::vector<float> rows(size_t(src.c * src.h * out_w));
  for (int64_t c = 0; c < src.c; ++c) {
    for (int64_t y = 0; y < src.h; ++y) {
      const float* in = src.data + c * src.plane_stride + y * src.row_stride;
      float* dst = rows.data() + (c * src.h + y) * out_w;
      for (int64_t x = 0; x < out_w; ++x) {
        const float* w = tx.weights.data() + x * tx.width;
        const float* p = in + tx.first[size_t(x)];
        const int64_t n = std::min(tx.width, src.w - tx.first[size_t(x)]);
        float acc = 0.0f;
        for (int64_t k = 0; k < n; ++k) acc += w[k] * p[k];
        dst[x] = acc;
      }
    }
  }
  for (int64_t c = 0; c < src.c; ++c) {
    for (int64_t y = 0; y < out_h; ++y) {
      const float* w = ty.weights.data() + y * ty.width;
      const int64_t first = ty.first[size_t(y)];
      const int64_t n = std::min(ty.width, src.h - first);
      float* dst = out + (c * out_h + y) * out_w;
      std::fill(dst, dst + out_w, 0.0f);
      for (int64_t k = 0; k < n; ++k) {
        const float* row = rows.data() + (c * src.h + first + k) * out_w;
        for (int64_t x = 0; x < out_w; ++x) dst[x] += w[k] * row[x];
      }
    }
  }
}

}  // namespace lpt::data
