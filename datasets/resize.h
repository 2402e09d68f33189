#pragma once
// Bilinear image resizing with PIL's / torchvision's antialiasing (a triangle filter widened by
// the scale factor when shrinking; plain bilinear with half-pixel centres when enlarging).
#include <cstdint>

#include "datasets/dataset.h"

namespace lpt::data {

// A read-only CHW float image, possibly a window of a larger one (hence the strides).
struct ImageView {
  const float* data;
  int64_t c, h, w;
  int64_t row_stride, plane_stride;
};
inline ImageView whole_image(const float* data, const SampleShape& s) { return {data, s.c, s.h, s.w, s.w, s.h * s.w}; }
// The h x w window of `v` whose top-left pixel is (top, left); must lie inside v.
ImageView crop_view(const ImageView& v, int64_t top, int64_t left, int64_t h, int64_t w);

// Writes `src` resized to out_h x out_w as CHW floats; equals torch's
// F.interpolate(x, (out_h, out_w), mode="bilinear", align_corners=False, antialias=True).
void resize_bilinear(const ImageView& src, int64_t out_h, int64_t out_w, float* out);

}  // namespace lpt::data
