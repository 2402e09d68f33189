#include "core/ops/pool.h"

#include "core/onednn/context.h"
#include "core/onednn/pool_pd.h"

namespace lpt::ops {

namespace {

using onednn::PoolKind;
using onednn::PoolSpec;

struct PoolForward {
  dnnl::pooling_forward::primitive_desc pd;
  dnnl::pooling_forward prim;
};

struct PoolBackward {
  dnnl::pooling_backward::primitive_desc pd;
  dnnl::pooling_backward prim;
};

const char* kind_name(PoolKind k) {
  switch (k) {
    case PoolKind::max:
      return "max";
    case PoolKind::avg_include_pad:
      return "avg-include-pad";
    case PoolKind::avg_exclude_pad:
      return "avg-exclude-pad";
  }
  return "?";
}

std::string spec_str(const PoolSpec& s) {
  return detail::concat(kind_name(s.kind), " k", s.kernel_h, "x", s.kernel_w, " s", s.stride_h, "x", s.stride_w, " p",
                        s.pad_top, "x", s.pad_left, s.for_training ? " training" : " inference");
}

// Both sides are channels-last (nhwc).
dnnl::memory::desc nhwc_desc(const Shape& shape) {
  return dnnl::memory::desc(onednn::dims_of(shape), onednn::dt::f32, onednn::tag::nhwc);
}

std::string primitive_key(const Shape& in, const Shape& out, const PoolSpec& s) {
  return detail::concat(shape_str(in), " -> ", shape_str(out), " ", spec_str(s));
}

std::shared_ptr<PoolForward> forward_primitive(const char* op, const Shape& in, const Shape& out, const PoolSpec& s) {
  return onednn::PrimitiveCache::get<PoolForward>(detail::concat(op, " fwd ", primitive_key(in, out, s)), [&] {
    auto pd = onednn::pool_forward_pd(nhwc_desc(in), nhwc_desc(out), s);
    onednn::record_impl(detail::concat(op, " fwd ", shape_str(in), " ", spec_str(s)), onednn::impl_name(pd));
    return PoolForward{pd, dnnl::pooling_forward(pd)};
  });
}

std::shared_ptr<PoolBackward> backward_primitive(const char* op, const Shape& in, const Shape& out, const PoolSpec& s) {
  return onednn::PrimitiveCache::get<PoolBackward>(detail::concat(op, " bwd ", primitive_key(in, out, s)), [&] {
    auto pd = onednn::pool_backward_pd(nhwc_desc(in), nhwc_desc(out), s, forward_primitive(op, in, out, s)->pd);
    onednn::record_impl(detail::concat(op, " bwd ", shape_str(in), " ", spec_str(s)), onednn::impl_name(pd));
    return PoolBackward{pd, dnnl::pooling_backward(pd)};
  });
}

dnnl::memory wrap_workspace(const Tensor& ws, const dnnl::memory::desc& md) {
  return ws.defined() ? onednn::wrap_as(ws, md) : dnnl::memory(md, onednn::engine(), nullptr);
}

// out = pool(in); returns the workspace (max pooling's argmax) when the primitive writes one.
Tensor pool_forward(const char* op, const Tensor& in, const Tensor& out, const PoolSpec& s) {
  const auto fwd = forward_primitive(op, in.shape(), out.shape(), s);
  const dnnl::memory::desc ws_md = fwd->pd.workspace_desc();
  Tensor workspace = ws_md.get_size() ? Tensor::empty({int64_t(ws_md.get_size())}, DType::u8) : Tensor();
  fwd->prim.execute(onednn::stream(), {{DNNL_ARG_SRC, onednn::wrap(in)},
                                       {DNNL_ARG_DST, onednn::wrap(out)},
                                       {DNNL_ARG_WORKSPACE, wrap_workspace(workspace, ws_md)}});
  onednn::stream().wait();
  return workspace;
}

// din = d pool / d in applied to dout (both channels-last); oneDNN writes every element of din.
void pool_backward(const char* op, const Tensor& workspace, const PoolSpec& s, const Tensor& dout, const Tensor& din) {
  const auto bwd = backward_primitive(op, din.shape(), dout.shape(), s);
  bwd->prim.execute(onednn::stream(), {{DNNL_ARG_DIFF_DST, onednn::wrap(dout)},
                                       {DNNL_ARG_DIFF_SRC, onednn::wrap(din)},
                                       {DNNL_ARG_WORKSPACE, wrap_workspace(workspace, bwd->pd.workspace_desc())}});
  onednn::stream().wait();
}

Variable pool2d(const char* op, const Variable& x, const Pool2dParams& p, PoolKind kind) {
  const Shape& shape = x.shape();
  LPT_CHECK(shape.size() == 4 && x.data().dtype() == DType::f32, op, ": input is ", x.data().describe(),
            ", expected f32 [N, C, H, W]");
  LPT_CHECK(p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0, op, ": kernel ", p.kernel_h, "x",
            p.kernel_w, " and stride ", p.stride_h, "x", p.stride_w, " must be positive (input ", shape_str(shape),
            ")");
  LPT_CHECK(p.pad_h >= 0 && p.pad_w >= 0 && 2 * p.pad_h <= p.kernel_h && 2 * p.pad_w <= p.kernel_w, op, ": padding ",
            p.pad_h, "x", p.pad_w, " must be between 0 and half the kernel ", p.kernel_h, "x", p.kernel_w, " (input ",
            shape_str(shape), ")");
  const int64_t H = shape[2] + 2 * p.pad_h, W = shape[3] + 2 * p.pad_w;
  LPT_CHECK(H >= p.kernel_h && W >= p.kernel_w, op, ": kernel ", p.kernel_h, "x", p.kernel_w,
            " is larger than the padded input ", shape_str(shape), " (padding ", p.pad_h, "x", p.pad_w, ")");
  const Shape out_shape{shape[0], shape[1], (H - p.kernel_h) / p.stride_h + 1, (W - p.kernel_w) / p.stride_w + 1};

  PoolSpec spec;
  spec.kind = kind;
  spec.kernel_h = p.kernel_h, spec.kernel_w = p.kernel_w;
  spec.stride_h = p.stride_h, spec.stride_w = p.stride_w;
  spec.pad_top = p.pad_h, spec.pad_left = p.pad_w;
  spec.for_training = grad_enabled() && x.requires_grad();

  const Tensor in = x.data().to(MemoryFormat::channels_last);
  const Tensor out = Tensor::empty(out_shape, DType::f32, MemoryFormat::channels_last);
  const Tensor workspace = pool_forward(op, in, out, spec);
  // The backward needs only the shapes and max pooling's workspace, not the data.
  return make_result(out, op, {x},
                     [op, shape, out_shape, workspace, spec](std::vector<Variable>& inputs, const Tensor& dout) {
                       Tensor din = Tensor::empty(shape, DType::f32, MemoryFormat::channels_last);
                       pool_backward(op, workspace, spec, dout.to(MemoryFormat::channels_last), din);
                       inputs[0].accumulate_grad(din);
                     });
}

}  // namespace

Variable max_pool2d(const Variable& x, const Pool2dParams& p) { return pool2d("max_pool2d", x, p, PoolKind::max); }

Variable avg_pool2d(const Variable& x, const Pool2dParams& p) {
  return pool2d("avg_pool2d", x, p, p.count_include_pad ? PoolKind::avg_include_pad : PoolKind::avg_exclude_pad);
}

Variable global_avg_pool2d(const Variable& x) {
  LPT_CHECK(x.shape().size() == 4, "global_avg_pool2d: input is ", x.data().describe(), ", expected [N, C, H, W]");
  Pool2dParams p;
  p.kernel_h = p.stride_h = x.shape()[2];
  p.kernel_w = p.stride_w = x.shape()[3];
  return pool2d("global_avg_pool2d", x, p, PoolKind::avg_exclude_pad);
}

}  // namespace lpt::ops
