#include "core/onednn/pool_pd.h"

#include "core/onednn/context.h"

namespace lpt::onednn {

namespace {

dnnl::algorithm pool_algorithm(PoolKind kind) {
  switch (kind) {
    case PoolKind::max:
      return dnnl::algorithm::pooling_max;
    case PoolKind::avg_include_pad:
      return dnnl::algorithm::pooling_avg_include_padding;
    case PoolKind::avg_exclude_pad:
      return dnnl::algorithm::pooling_avg_exclude_padding;
  }
  fail("pooling: unknown kind ", int(kind));
}

// oneDNN wants the padding at both ends. The bottom/right one is what makes the last window end
// exactly where the dst shape says (it may be smaller than the top/left one, even negative, when
// floor division drops the rows a partial window would cover).
struct PoolGeometry {
  dnnl::memory::dims strides, kernel, pad_l, pad_r;
};

PoolGeometry pool_geometry(const dnnl::memory::desc& src, const dnnl::memory::desc& dst, const PoolSpec& s) {
  const dnnl::memory::dims in = src.dims(), out = dst.dims();
  const int64_t pad_bottom = (out[2] - 1) * s.stride_h + s.kernel_h - in[2] - s.pad_top;
  const int64_t pad_right = (out[3] - 1) * s.stride_w + s.kernel_w - in[3] - s.pad_left;
  return {{s.stride_h, s.stride_w}, {s.kernel_h, s.kernel_w}, {s.pad_top, s.pad_left}, {pad_bottom, pad_right}};
}

}  // namespace

dnnl::pooling_forward::primitive_desc pool_forward_pd(const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                                                      const PoolSpec& spec) {
  const PoolGeometry g = pool_geometry(src, dst, spec);
  const auto prop = spec.for_training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  dnnl::pooling_forward::desc d(prop, pool_algorithm(spec.kind), src, dst, g.strides, g.kernel, g.pad_l, g.pad_r);
  return {d, engine()};
}

dnnl::pooling_backward::primitive_desc pool_backward_pd(const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                                                        const PoolSpec& spec,
                                                        const dnnl::pooling_forward::primitive_desc& forward) {
  const PoolGeometry g = pool_geometry(src, dst, spec);
  dnnl::pooling_backward::desc d(pool_algorithm(spec.kind), src, dst, g.strides, g.kernel, g.pad_l, g.pad_r);
  return {d, engine(), forward};
}

}  // namespace lpt::onednn
