#include "layers/conv2d.h"

#include "layers/init.h"

namespace lpt {

Conv2d::Conv2d(const Conv2dOptions& o) : opt_(o) {
  LPT_CHECK(o.in_channels > 0 && o.out_channels > 0 && o.kernel > 0 && o.groups > 0 &&
                o.in_channels % o.groups == 0 && o.out_channels % o.groups == 0,
            "Conv2d: invalid options in=", o.in_channels, " out=", o.out_channels, " kernel=", o.kernel,
            " groups=", o.groups, " (channels must be positive multiples of groups)");
  params_ = {o.stride, o.stride, o.padding, o.padding, o.dilation, o.dilation, o.groups};
  weight_ = register_parameter(
      "weight", Tensor::zeros({o.out_channels, o.in_channels / o.groups, o.kernel, o.kernel}));
  if (o.bias) bias_ = register_parameter("bias", Tensor::zeros({o.out_channels}));
}

void Conv2d::reset_parameters(uint64_t seed) {
  const int64_t fan_in = opt_.in_channels / opt_.groups * opt_.kernel * opt_.kernel;
  init::uniform(weight_.data(), init::default_bound(fan_in), seed, weight_.name());
  if (bias_.defined()) init::uniform(bias_.data(), init::default_bound(fan_in), seed, bias_.name());
}

GemmGeometry Conv2d::geometry(const Shape& xs) const {
  const Shape ys = ops::conv2d_output_shape(xs, weight_.shape(), params_);
  return {xs[0], xs[1], xs[2], xs[3], ys[1], ys[2], ys[3], opt_.kernel, opt_.kernel, opt_.groups, false};
}

bool Conv2d::int8_fusable() const {
  return !training() && !grad_enabled() && quantized() && quantizer()->lanes().asks(ops::Gemm::forward, ops::Lane::int8);
}

Variable Conv2d::forward_int8_fused(const Variable& x, ops::ConvEpilogue e) {
  if (!int8_fusable()) return Variable();
  const GemmQuantizer::Operands q = quantizer()->prepare(x, weight_, geometry(x.shape()), false);
  if (!q.int8) return Variable();
  if (bias_.defined()) {  // (sum·s + b)·a + shift = sum·s·a + (b·a + shift)
    float* shift = e.shift.data<float>();
    const float *b = bias_.data().data<float>(), *a = e.multiplier.data<float>();
    for (int64_t o = 0; o < opt_.out_channels; ++o) shift[o] += b[o] * a[o];
  }
  return ops::conv2d_int8_fused(x, weight_, params_, q.lanes, *q.int8, e);
}

Variable Conv2d::forward(const Variable& x) {
  if (!quantizer()) return ops::conv2d(x, weight_, bias_, params_);
  const GemmGeometry g = geometry(x.shape());
  if (!quantized()) {
    if (training()) quantizer()->count_macs(g);
    return ops::conv2d(x, weight_, bias_, params_, nullptr, &quantizer()->lanes());
  }
  const GemmQuantizer::Operands q = quantizer()->prepare(x, weight_, g, training());
  return ops::conv2d(q.x, q.w, bias_, params_, &q.backward, &q.lanes, q.int8 ? &*q.int8 : nullptr);
}

GemmGeometry Conv2d::weight_geometry() const {
  return {1, opt_.in_channels, 1, 1, opt_.out_channels, 1, 1, opt_.kernel, opt_.kernel, opt_.groups, false};
}

bool Conv2d::reduction_rows_shared() const {
  return opt_.kernel == 1 && params_.stride_h == 1 && params_.stride_w == 1 && params_.pad_h == 0 && params_.pad_w == 0;
}

Linear::Linear(int64_t in_features, int64_t out_features, bool bias) : in_(in_features), out_(out_features) {
  LPT_CHECK(in_features > 0 && out_features > 0, "Linear: invalid sizes in=", in_features, " out=", out_features);
  weight_ = register_parameter("weight", Tensor::zeros({out_features, in_features}));
  if (bias) bias_ = register_parameter("bias", Tensor::zeros({out_features}));
}

void Linear::reset_parameters(uint64_t seed) {
  init::uniform(weight_.data(), init::default_bound(in_), seed, weight_.name());
  if (bias_.defined()) init::uniform(bias_.data(), init::default_bound(in_), seed, bias_.name());
}

GemmGeometry Linear::weight_geometry() const {
  GemmGeometry g;
  g.C = in_, g.O = out_, g.is_linear = true;
  return g;
}

Variable Linear::forward(const Variable& x) {
  if (!quantizer()) return ops::linear(x, weight_, bias_);
  LPT_CHECK(x.shape().size() == 2 && x.shape()[1] == in_, "Linear '", name(), "': input ", shape_str(x.shape()),
            ", expected [N, ", in_, "]");
  GemmGeometry g;
  g.N = x.shape()[0], g.C = in_, g.O = out_, g.is_linear = true;
  if (!quantized()) {
    if (training()) quantizer()->count_macs(g);
    return ops::linear(x, weight_, bias_, nullptr, &quantizer()->lanes());
  }
  const GemmQuantizer::Operands q = quantizer()->prepare(x, weight_, g, training());
  return ops::linear(q.x, q.w, bias_, &q.backward, &q.lanes, q.int8 ? &*q.int8 : nullptr);
}

}  // namespace lpt
