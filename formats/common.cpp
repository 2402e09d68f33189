#include "formats/common.h"

namespace lpt::formats {

RunGeometry RunGeometry::along_axis(const Shape& shape, int axis) {
  const int nd = int(shape.size());
  const int a = axis < 0 ? axis + nd : axis;
  LPT_CHECK(a >= 0 && a < nd, "format: axis ", axis, " out of range for shape ", shape_str(shape));
  RunGeometry g;
  for (int i = 0; i < a; ++i) g.outer *= shape[i];
  g.len = shape[a];
  for (int i = a + 1; i < nd; ++i) g.inner *= shape[i];
  return g;
}

LogicalOrder LogicalOrder::of(const Tensor& t) {
  if (t.ndim() == 4 && t.is_channels_last() && !t.is_contiguous()) return {t.size(1), t.size(2) * t.size(3)};
  return {};
}

void check_finite(const float* x, int64_t n, const std::string& tensor_name) {
  int64_t bad = -1;
#pragma omp parallel for schedule(static) reduction(max : bad)
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) bad = std::max(bad, i);
  LPT_CHECK(bad < 0, "tensor '", tensor_name, "' holds a non-finite value (", x[bad], " at element ", bad,
            "); number formats accept finite values only");
}

}  // namespace lpt::formats
