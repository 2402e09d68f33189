#include "core/onednn/conv_pd.h"

#include <sstream>

namespace lpt::onednn {

using dims = dnnl::memory::dims;

std::string conv_label(const Shape& x, const Shape& w, bool bias, const ops::Conv2dParams& p) {
  std::ostringstream os;
  os << "x" << shape_str(x) << " w" << shape_str(w) << " stride " << p.stride_h << "x" << p.stride_w << " pad "
     << p.pad_h << "x" << p.pad_w << " dil " << p.dilation_h << "x" << p.dilation_w << " groups " << p.groups
     << (bias ? " bias" : "");
  return os.str();
}

dnnl::memory::desc conv_activation_desc(const Shape& s, dt type) { return {dims_of(s), type, tag::nhwc}; }

dnnl::memory::desc conv_user_weights_desc(const Shape& w, int64_t groups, dt type) {
  if (groups == 1) return {dims_of(w), type, tag::oihw};
  return {{groups, w[0] / groups, w[1], w[2], w[3]}, type, tag::goihw};
}

dt operand_type(ops::Lane lane, const ops::GemmOperand& a) {
  switch (lane) {
    case ops::Lane::bf16: return dt::bf16;
    case ops::Lane::int8: return a.int8->data.dtype() == DType::u8 ? dt::u8 : dt::s8;
    case ops::Lane::fp32: break;
  }
  return dt::f32;
}

std::string operands_label(dt operands) {
  switch (operands) {
    case dt::bf16: return "bf16 ";
    case dt::u8: return "u8s8 ";
    case dt::s8: return "s8s8 ";
    default: return "";
  }
}

namespace {
// The post-ops of the int8 lane (ops::Int8Epilogue): per-channel operands of dims `channel`, a
// residual of the output's descriptor `dst`.
dnnl::primitive_attr int8_output_attr(const dims& channel, const dnnl::memory::desc& dst, const ops::Int8Epilogue& e) {
  const dnnl::memory::desc per_channel(channel, dt::f32, channel.size() == 4 ? tag::nchw : tag::ab);
  const auto activation = [](dnnl::post_ops& po, ops::Activation a) {
    if (a == ops::Activation::relu) po.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    if (a == ops::Activation::relu6) po.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, 0.0f, 6.0f);
  };
  dnnl::post_ops po;
  po.append_binary(dnnl::algorithm::binary_mul, per_channel);
  if (e.shift) po.append_binary(dnnl::algorithm::binary_add, per_channel);
  if (e.relu) activation(po, ops::Activation::relu);
  if (e.residual) po.append_binary(dnnl::algorithm::binary_add, dst);
  activation(po, e.act);
  dnnl::primitive_attr attr;
  attr.set_post_ops(po);
  return attr;
}
}  // namespace

namespace {

// The descriptors and geometry shared by the three conv directions, in oneDNN's conventions.
// src and weights (the forward operands) and dst_operand (dy, the backward GEMMs' operand) take the
// operand type; dst (forward output, backward-data's dx is src_f32) and gradients stay f32.
struct ConvDescs {
  dnnl::memory::desc src, src_f32, weights, weights_f32, bias, dst, dst_operand;
  dims strides, dilates, pad;
};

ConvDescs conv_descs(const Shape& x, const Shape& w, bool bias, const ops::Conv2dParams& p, dt operands) {
  const Shape y = ops::conv2d_output_shape(x, w, p);
  const dnnl::memory::desc user_w = conv_user_weights_desc(w, p.groups);
  ConvDescs d;
  d.src = conv_activation_desc(x, operands);
  d.src_f32 = conv_activation_desc(x);
  d.dst = conv_activation_desc(y);
  d.dst_operand = conv_activation_desc(y, operands);
  d.weights = dnnl::memory::desc(user_w.dims(), operands, tag::any);
  d.weights_f32 = dnnl::memory::desc(user_w.dims(), dt::f32, tag::any);
  if (bias) d.bias = dnnl::memory::desc({w[0]}, dt::f32, tag::x);  // a zero descriptor means none
  d.strides = {p.stride_h, p.stride_w};
  d.dilates = {p.dilation_h - 1, p.dilation_w - 1};  // oneDNN counts the gaps: 0 = dense kernel
  // PyTorch pads both sides equally and floors the output size; oneDNN accepts the same right
  // padding (it checks the output size with the same floor division).
  d.pad = {p.pad_h, p.pad_w};
  return d;
}

}  // namespace

namespace {
// The forward descriptor the backward directions take as oneDNN's hint; not recorded.
dnnl::convolution_forward::primitive_desc forward_hint(const ConvDescs& d) {
  const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                             d.src, d.weights, d.bias, d.dst, d.strides, d.dilates, d.pad, d.pad);
  return {desc, engine()};
}
}  // namespace

dnnl::convolution_forward::primitive_desc conv_forward_pd(const Shape& x, const Shape& w, bool bias,
                                                          const ops::Conv2dParams& p, dt operands) {
  const ConvDescs d = conv_descs(x, w, bias, p, operands);
  dnnl::convolution_forward::primitive_desc pd = forward_hint(d);
  record_impl("conv2d fwd " + operands_label(operands) + conv_label(x, w, bias, p), impl_name(pd));
  return pd;
}

dnnl::convolution_forward::primitive_desc conv_forward_int8_pd(const Shape& x, const Shape& w,
                                                               const ops::Conv2dParams& p, dt src,
                                                               const ops::Int8Epilogue& e) {
  ConvDescs d = conv_descs(x, w, false, p, src);
  d.weights = dnnl::memory::desc(d.weights.dims(), dt::s8, tag::any);
  const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                             d.src, d.weights, d.dst, d.strides, d.dilates, d.pad, d.pad);
  dnnl::convolution_forward::primitive_desc pd(desc, int8_output_attr({1, w[0], 1, 1}, d.dst, e), engine());
  record_impl("conv2d fwd " + operands_label(src) + conv_label(x, w, false, p) + e.label(), impl_name(pd));
  return pd;
}

dnnl::convolution_backward_data::primitive_desc conv_backward_data_pd(const Shape& x, const Shape& w,
                                                                      const ops::Conv2dParams& p, dt operands) {
  const ConvDescs d = conv_descs(x, w, false, p, operands);
  const dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, d.src_f32, d.weights,
                                                   d.dst_operand, d.strides, d.dilates, d.pad, d.pad);
  dnnl::convolution_backward_data::primitive_desc pd(desc, engine(), forward_hint(d));
  record_impl("conv2d bwd-data " + operands_label(operands) + conv_label(x, w, false, p), impl_name(pd));
  return pd;
}

dnnl::convolution_backward_weights::primitive_desc conv_backward_weights_pd(const Shape& x, const Shape& w, bool bias,
                                                                            const ops::Conv2dParams& p, dt operands) {
  const ConvDescs d = conv_descs(x, w, bias, p, operands);
  const dnnl::convolution_backward_weights::desc desc(dnnl::algorithm::convolution_direct, d.src, d.weights_f32,
                                                      d.bias, d.dst_operand, d.strides, d.dilates, d.pad, d.pad);
  dnnl::convolution_backward_weights::primitive_desc pd(desc, engine(), forward_hint(d));
  record_impl("conv2d bwd-weights " + operands_label(operands) + conv_label(x, w, bias, p), impl_name(pd));
  return pd;
}

dnnl::reorder make_reorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to, const std::string& what) {
  const dnnl::reorder::primitive_desc pd(engine(), from, engine(), to);
  record_impl("reorder " + what, impl_name(pd));
  return dnnl::reorder(pd);
}

namespace {
std::string linear_label(int64_t n, int64_t in, int64_t out) {
  std::ostringstream os;
  os << "x[" << n << ", " << in << "] w[" << out << ", " << in << "]";
  return os.str();
}
dnnl::memory::desc row_major(int64_t rows, int64_t cols, dt type = dt::f32) { return {{rows, cols}, type, tag::ab}; }
// The transpose [cols, rows] of a row-major [rows, cols] matrix, without a copy.
dnnl::memory::desc transposed(int64_t rows, int64_t cols, dt type) { return {{cols, rows}, type, dims{1, cols}}; }
}  // namespace

dnnl::matmul::primitive_desc linear_forward_pd(int64_t n, int64_t in, int64_t out, bool bias, dt operands) {
  // matmul broadcasts a [1, out] bias over the rows.
  const dnnl::matmul::desc desc =
      bias ? dnnl::matmul::desc(row_major(n, in, operands), transposed(out, in, operands), row_major(1, out),
                                row_major(n, out))
           : dnnl::matmul::desc(row_major(n, in, operands), transposed(out, in, operands), row_major(n, out));
  dnnl::matmul::primitive_desc pd(desc, engine());
  record_impl("linear fwd " + operands_label(operands) + linear_label(n, in, out) + (bias ? " bias" : ""),
              impl_name(pd));
  return pd;
}

void add_int8_output_args(const dnnl::primitive_desc_base& pd, const ops::Int8Epilogue& e, const Tensor& scales,
                          const Tensor& shift, const Tensor& residual, std::unordered_map<int, dnnl::memory>& args) {
  // Post-op k's operand is argument DNNL_ARG_ATTR_MULTIPLE_POST_OP(k) | DNNL_ARG_SRC_1; the
  // eltwise post-ops (the ReLUs) take none but count.
  int k = 0;
  const auto arg = [&](const Tensor& t) {
    const int which = DNNL_ARG_ATTR_MULTIPLE_POST_OP(k++) | DNNL_ARG_SRC_1;
    args[which] = dnnl::memory(pd.query_md(dnnl::query::exec_arg_md, which), engine(), t.raw_data());
  };
  LPT_CHECK(scales.defined() && e.shift == shift.defined() && e.residual == residual.defined(),
            "int8 output post-ops: the arguments do not match the epilogue '", e.label(), "'");
  arg(scales);
  if (e.shift) arg(shift);
  if (e.relu) ++k;
  if (e.residual) arg(residual);
}

dnnl::matmul::primitive_desc linear_forward_int8_pd(int64_t n, int64_t in, int64_t out, bool bias, dt src) {
  const dnnl::matmul::desc desc(row_major(n, in, src), transposed(out, in, dt::s8), row_major(n, out));
  dnnl::matmul::primitive_desc pd(desc, int8_output_attr({1, out}, row_major(n, out), {.shift = bias}), engine());
  record_impl("linear fwd " + operands_label(src) + linear_label(n, in, out) + (bias ? " bias" : ""), impl_name(pd));
  return pd;
}

dnnl::matmul::primitive_desc linear_backward_data_pd(int64_t n, int64_t in, int64_t out, dt operands) {
  const dnnl::matmul::desc desc(row_major(n, out, operands), row_major(out, in, operands), row_major(n, in));
  dnnl::matmul::primitive_desc pd(desc, engine());
  record_impl("linear bwd-data " + operands_label(operands) + linear_label(n, in, out), impl_name(pd));
  return pd;
}

dnnl::matmul::primitive_desc linear_backward_weights_pd(int64_t n, int64_t in, int64_t out, dt operands) {
  const dnnl::matmul::desc desc(transposed(n, out, operands), row_major(n, in, operands), row_major(out, in));
  dnnl::matmul::primitive_desc pd(desc, engine());
  record_impl("linear bwd-weights " + operands_label(operands) + linear_label(n, in, out), impl_name(pd));
  return pd;
}

}  // namespace lpt::onednn
