#include "core/ops/conv.h"

#include <optional>
#include <unordered_map>

#include "core/elementwise.h"
#include "core/onednn/conv_pd.h"
#include "core/ops/linear.h"

namespace lpt::ops {

Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
  LPT_CHECK(x.size() == 4, "conv2d: input ", shape_str(x), " must be 4-D [N, C_in, H, W]");
  LPT_CHECK(w.size() == 4, "conv2d: weight ", shape_str(w), " must be 4-D [C_out, C_in/groups, KH, KW]");
  for (int64_t d : x) LPT_CHECK(d > 0, "conv2d: input ", shape_str(x), " has an empty dimension");
  for (int64_t d : w) LPT_CHECK(d > 0, "conv2d: weight ", shape_str(w), " has an empty dimension");
  LPT_CHECK(p.stride_h >= 1 && p.stride_w >= 1 && p.dilation_h >= 1 && p.dilation_w >= 1 && p.groups >= 1 &&
                p.pad_h >= 0 && p.pad_w >= 0,
            "conv2d: expected stride, dilation and groups >= 1 and padding >= 0, got stride ", p.stride_h, "x",
            p.stride_w, " dilation ", p.dilation_h, "x", p.dilation_w, " padding ", p.pad_h, "x", p.pad_w, " groups ",
            p.groups);
  LPT_CHECK(w[0] % p.groups == 0, "conv2d: weight ", shape_str(w), " has ", w[0],
            " output channels, not divisible by groups ", p.groups);
  if (p.groups == 1) {
    LPT_CHECK(w[1] == x[1], "conv2d: weight ", shape_str(w), " expects ", w[1], " input channels, input is ",
              shape_str(x));
  } else {
    LPT_CHECK(w[1] * p.groups == x[1], "conv2d: weight ", shape_str(w), " with groups ", p.groups, " expects ",
              w[1] * p.groups, " input channels, input is ", shape_str(x));
  }
  const int64_t kh = p.dilation_h * (w[2] - 1) + 1, kw = p.dilation_w * (w[3] - 1) + 1;  // dilated extent
  const int64_t ho = (x[2] + 2 * p.pad_h - kh) / p.stride_h + 1;
  const int64_t wo = (x[3] + 2 * p.pad_w - kw) / p.stride_w + 1;
  LPT_CHECK(x[2] + 2 * p.pad_h >= kh && x[3] + 2 * p.pad_w >= kw, "conv2d: input ", shape_str(x), " padded by ",
            p.pad_h, "x", p.pad_w, " is smaller than the ", kh, "x", kw, " (dilated) kernel of weight ", shape_str(w));
  return {x[0], w[0], ho, wo};
}

namespace {

// True when a tensor with these strides lies in memory exactly as nhwc would: every dimension
// longer than 1 has its channels-last stride (so a one-channel NCHW tensor qualifies too).
bool nhwc_order(const Shape& shape, const Shape& strides) {
  const Shape cl = channels_last_strides(shape);
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] > 1 && strides[d] != cl[d]) return false;
  return true;
}

// The tensor itself when its memory is in nhwc order, otherwise a channels-last copy.
Tensor as_nhwc(const Tensor& t) { return nhwc_order(t.shape(), t.strides()) ? t : t.to(MemoryFormat::channels_last); }

dnnl::memory mem(const dnnl::memory::desc& md, const Tensor& t) { return dnnl::memory(md, onednn::engine(), t.raw_data()); }

// A primitive's weights layout beside the user's OIHW one. When they differ, a buffer in the
// primitive's layout (kept across calls: each state is used by one thread at a time) and the
// reorder that fills it (weights) or empties it (weight gradients).
struct WeightsLayout {
  dnnl::memory::desc user;
  dnnl::memory buffer;  // empty when the primitive takes the user's layout
  dnnl::reorder reorder;

  WeightsLayout(const dnnl::memory::desc& user_md, const dnnl::memory::desc& prim_md, bool into_primitive,
                const std::string& what)
      : user(user_md) {
    if (prim_md == user_md) return;
    buffer = dnnl::memory(prim_md, onednn::engine());
    reorder =
        into_primitive ? onednn::make_reorder(user_md, prim_md, what) : onednn::make_reorder(prim_md, user_md, what);
  }

  // The weights w (OIHW) in the primitive's layout: reordered into the buffer, or with `packs`
  // (frozen weights) taken from there, reordered into it at the first call.
  dnnl::memory input(const Tensor& w, const GemmLanes* lanes) {
    dnnl::memory u = mem(user, w);
    if (!buffer) return u;
    const auto fill = [&](dnnl::memory& into) {
      reorder.execute(onednn::stream(), u, into);
      onednn::count_weight_reorder();
    };
    if (lanes && lanes->packs) return lanes->packs->get(buffer.get_desc(), fill);
    fill(buffer);
    return buffer;
  }
  // Where the primitive writes the gradient that finish_output() then leaves in dw (OIHW).
  dnnl::memory output(const Tensor& dw) { return buffer ? buffer : mem(user, dw); }
  void finish_output(const Tensor& dw) {
    if (!buffer) return;
    dnnl::memory u = mem(user, dw);
    reorder.execute(onednn::stream(), buffer, u);
    onednn::count_weight_reorder();
  }
};

// One conv shape and parameters, as the three directions' cache keys and descriptors need it.
struct ConvShape {
  Shape x, w;
  bool bias;
  Conv2dParams p;
  std::string shapes = onednn::conv_label(x, w, false, p);  // formatted once per call, not per key
  std::string label(const char* direction, onednn::dt operands, bool with_bias) const {
    return std::string("conv2d ") + direction + " " + onednn::operands_label(operands) + shapes +
           (with_bias ? " bias" : "");
  }
};

// The primitives of one direction, for f32, bf16 or (forward) int8 operands, each created once and
// cached.
struct ConvForward {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  WeightsLayout weights;
  std::string impl;
  // int8 operands: the scale and then the epilogue's post-ops (by default the bias, if any).
  ConvForward(const ConvShape& c, onednn::dt operands, std::optional<Int8Epilogue> e = std::nullopt)
      : pd(onednn::is_int8(operands)
               ? onednn::conv_forward_int8_pd(c.x, c.w, c.p, operands, e.value_or(Int8Epilogue{.shift = c.bias}))
               : onednn::conv_forward_pd(c.x, c.w, c.bias, c.p, operands)),
        prim(pd),
        weights(onednn::conv_user_weights_desc(c.w, c.p.groups, onednn::is_int8(operands) ? onednn::dt::s8 : operands),
                pd.weights_desc(), true, c.label("fwd weights", operands, c.bias)),
        impl(onednn::impl_name(pd)) {}
};

struct ConvBackwardData {
  dnnl::convolution_backward_data::primitive_desc pd;
  dnnl::convolution_backward_data prim;
  WeightsLayout weights;
  std::string impl;
  ConvBackwardData(const ConvShape& c, onednn::dt operands)
      : pd(onednn::conv_backward_data_pd(c.x, c.w, c.p, operands)),
        prim(pd),
        weights(onednn::conv_user_weights_desc(c.w, c.p.groups, operands), pd.weights_desc(), true,
                c.label("bwd-data weights", operands, false)),
        impl(onednn::impl_name(pd)) {}
};

// With the bias gradient when `with_bias` is set.
struct ConvBackwardWeights {
  dnnl::convolution_backward_weights::primitive_desc pd;
  dnnl::convolution_backward_weights prim;
  WeightsLayout diff_weights;
  std::string impl;
  ConvBackwardWeights(const ConvShape& c, bool with_bias, onednn::dt operands)
      : pd(onednn::conv_backward_weights_pd(c.x, c.w, with_bias, c.p, operands)),
        prim(pd),
        diff_weights(onednn::conv_user_weights_desc(c.w, c.p.groups), pd.diff_weights_desc(), false,
                     c.label("bwd-weights diff_weights", operands, with_bias)),
        impl(onednn::impl_name(pd)) {}
};

// y = conv(x, w) + b. x in nhwc order; w OIHW; b may be undefined.
Tensor conv_forward(const ConvShape& c, const GemmLanes* lanes, GemmOperand& x, GemmOperand& w, const Tensor& b,
                    const Shape& y_shape) {
  Tensor y = Tensor::empty(y_shape, DType::f32, MemoryFormat::channels_last);
  ConvShape unbiased = c;  // a scaled output takes its bias after the scale
  unbiased.bias = false;
  run_gemm(
      lanes, Gemm::forward, x, w, c.w[0],
      [&](Lane lane, const GemmOperand& a, bool scaled) {
        const onednn::dt t = onednn::operand_type(lane, a);
        const ConvShape& s = scaled ? unbiased : c;
        return onednn::PrimitiveCache::get<ConvForward>(s.label("fwd", t, s.bias), [&] { return ConvForward(s, t); });
      },
      [&](ConvForward& st, const Tensor& xv, const Tensor& wv, const Tensor& scales, float out_scale) {
        std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, mem(st.pd.src_desc(), xv)},
                                                   {DNNL_ARG_WEIGHTS, st.weights.input(wv, lanes)},
                                                   {DNNL_ARG_DST, mem(st.pd.dst_desc(), y)}};
        if (scales.defined()) {  // int8: y = sum·scale (+ b) by post-ops
          onednn::add_int8_output_args(st.pd, {.shift = b.defined()}, scales, b, Tensor(), args);
        } else if (b.defined() && out_scale == 1.0f) {
          args[DNNL_ARG_BIAS] = onednn::wrap(b);
        }
        st.prim.execute(onednn::stream(), args);
        if (out_scale != 1.0f) scale_add_bias_inplace(y, out_scale, b);
      });
  return y;
}

// dx = dy ⊛ wᵀ, returned with the given strides (x's layout).
Tensor conv_backward_data(const ConvShape& c, const GemmLanes* lanes, GemmOperand& dy, GemmOperand& w,
                          const Shape& dx_strides) {
  const bool direct = nhwc_order(c.x, dx_strides);
  Tensor dx = direct ? Tensor::empty_strided(c.x, dx_strides) : Tensor::empty(c.x, DType::f32, MemoryFormat::channels_last);
  run_gemm(
      lanes, Gemm::backward_data, dy, w, c.x[1],
      [&](Lane lane, const GemmOperand& a, bool) {
        const onednn::dt t = onednn::operand_type(lane, a);
        return onednn::PrimitiveCache::get<ConvBackwardData>(c.label("bwd-data", t, false),
                                                              [&] { return ConvBackwardData(c, t); });
      },
      [&](ConvBackwardData& st, const Tensor& dyv, const Tensor& wv, const Tensor&, float out_scale) {
        st.prim.execute(onednn::stream(), {{DNNL_ARG_DIFF_DST, mem(st.pd.diff_dst_desc(), dyv)},
                                           {DNNL_ARG_WEIGHTS, st.weights.input(wv, lanes)},
                                           {DNNL_ARG_DIFF_SRC, mem(st.pd.diff_src_desc(), dx)}});
        if (out_scale != 1.0f) scale_inplace(dx, out_scale);
      });
  if (direct) return dx;
  Tensor in_layout = Tensor::empty_strided(c.x, dx_strides);
  in_layout.copy_from(dx);
  return in_layout;
}

// dw = xᵀ ⊛ dy into dw (OIHW), and db = sum of dy over N, H, W into db when it is defined.
void conv_backward_weights(const ConvShape& c, const GemmLanes* lanes, GemmOperand& x, GemmOperand& dy,
                           const Tensor& dw, const Tensor& db) {
  const bool with_bias = db.defined();
  run_gemm(
      lanes, Gemm::backward_weights, x, dy, c.w[0],
      [&](Lane lane, const GemmOperand& a, bool) {
        const onednn::dt t = onednn::operand_type(lane, a);
        return onednn::PrimitiveCache::get<ConvBackwardWeights>(
            c.label("bwd-weights", t, with_bias), [&] { return ConvBackwardWeights(c, with_bias, t); });
      },
      [&](ConvBackwardWeights& st, const Tensor& xv, const Tensor& dyv, const Tensor&, float out_scale) {
        std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, mem(st.pd.src_desc(), xv)},
                                                   {DNNL_ARG_DIFF_DST, mem(st.pd.diff_dst_desc(), dyv)},
                                                   {DNNL_ARG_DIFF_WEIGHTS, st.diff_weights.output(dw)}};
        if (with_bias) args[DNNL_ARG_DIFF_BIAS] = onednn::wrap(db);
        st.prim.execute(onednn::stream(), args);
        st.diff_weights.finish_output(dw);
        if (out_scale == 1.0f) return;
        Tensor scaled = dw;
        scale_inplace(scaled, out_scale);
        if (!with_bias) return;
        Tensor db_scaled = db;  // the bias gradient sums dy's elements alone
        scale_inplace(db_scaled, dy.as_bf16().scale);
      });
}

// Checks that int8 operands match the conv's input (nhwc order) and weight (OIHW) shapes.
void check_int8_operands(const ForwardInt8& int8, const Shape& x_shape, const Shape& w_shape) {
  LPT_CHECK(int8.x.data.shape() == x_shape && nhwc_order(x_shape, int8.x.data.strides()) &&
                int8.w.data.shape() == w_shape && int8.w.data.is_contiguous(),
            "conv2d: int8 operands ", int8.x.data.describe(), " and ", int8.w.data.describe(), " do not match input ",
            shape_str(x_shape), " (nhwc) and weight ", shape_str(w_shape), " (OIHW)");
}

}  // namespace

Variable conv2d_int8_fused(const Variable& x, const Variable& w, const Conv2dParams& p, const GemmLanes& lanes,
                           const ForwardInt8& int8, const ConvEpilogue& e) {
  const Shape x_shape = x.shape(), w_shape = w.shape();
  const Shape y_shape = conv2d_output_shape(x_shape, w_shape, p);
  LPT_CHECK(!grad_enabled() && lanes.asks(Gemm::forward, Lane::int8),
            "conv2d_int8_fused: only without gradients, for a forward GEMM in the int8 lane");
  check_int8_operands(int8, x_shape, w_shape);
  LPT_CHECK(e.multiplier.shape() == Shape{w_shape[0]} && e.shift.shape() == Shape{w_shape[0]} &&
                (!e.residual.defined() || e.residual.shape() == y_shape),
            "conv2d_int8_fused: multiplier ", shape_str(e.multiplier.shape()), ", shift ", shape_str(e.shift.shape()),
            " and residual ", e.residual.defined() ? shape_str(e.residual.shape()) : "none", " for output ",
            shape_str(y_shape), ": expected [", w_shape[0], "], [", w_shape[0], "] and the output's shape");
  const ConvShape c{x_shape, w_shape, false, p};
  const onednn::dt t = int8.x.data.dtype() == DType::u8 ? onednn::dt::u8 : onednn::dt::s8;
  const Int8Epilogue ep{.shift = true, .relu = e.relu, .residual = e.residual.defined(), .act = e.act};
  const auto st = onednn::PrimitiveCache::get<ConvForward>(c.label("fwd", t, false) + ep.label(),
                                                            [&] { return ConvForward(c, t, ep); });
  if (is_reference_impl(st->impl)) {
    lanes.record_no_kernel(Gemm::forward, st->impl);
    return Variable();
  }
  Tensor scales = int8_output_scales(int8.x, int8.w, w_shape[0]);
  float* s = scales.data<float>();
  const Tensor multiplier = e.multiplier.contiguous();
  for (int64_t o = 0; o < w_shape[0]; ++o) s[o] *= multiplier.data<float>()[o];
  Tensor y = Tensor::empty(y_shape, DType::f32, MemoryFormat::channels_last);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, mem(st->pd.src_desc(), int8.x.data)},
                                             {DNNL_ARG_WEIGHTS, st->weights.input(int8.w.data, &lanes)},
                                             {DNNL_ARG_DST, mem(st->pd.dst_desc(), y)}};
  // The post-ops' operands must outlive the call that executes the primitive.
  const Tensor shift = e.shift.contiguous(), residual = e.residual.defined() ? as_nhwc(e.residual) : Tensor();
  onednn::add_int8_output_args(st->pd, ep, scales, shift, residual, args);
  st->prim.execute(onednn::stream(), args);
  lanes.record(Gemm::forward, st->impl, Lane::int8, false);
  return Variable(y);
}

Variable conv2d(const Variable& x, const Variable& w, const Variable& bias, const Conv2dParams& p,
                const BackwardOperands* backward, const GemmLanes* lanes, const ForwardInt8* int8) {
  const Shape x_shape = x.shape(), w_shape = w.shape();
  const Shape y_shape = conv2d_output_shape(x_shape, w_shape, p);
  const bool has_bias = bias.defined();
  if (has_bias)
    LPT_CHECK(bias.shape() == Shape{w_shape[0]}, "conv2d: bias ", shape_str(bias.shape()), " does not match weight ",
              shape_str(w_shape), ": expected [", w_shape[0], "]");
  for (const Variable* v : {&x, &w, &bias})
    LPT_CHECK(!v->defined() || v->data().dtype() == DType::f32, "conv2d: expected f32 input, weight and bias, got ",
              dtype_name(v->data().dtype()), " ", shape_str(v->shape()));
  const bool grad = grad_enabled();
  const bool need_dx = grad && x.requires_grad();
  const bool need_dw = grad && w.requires_grad();
  const bool need_db = grad && has_bias && bias.requires_grad();
  // With substituted backward operands the bias gradient is summed from dy apart from the GEMM.
  const bool db_in_gemm = need_dw && need_db && !backward;
  const ConvShape c{x_shape, w_shape, has_bias, p};

  // With int8 operands, x's and w's data are not read: values are made from the int8 forms where
  // a GEMM needs them.
  GemmOperand xs, wc;
  if (int8) {
    check_int8_operands(*int8, x_shape, w_shape);
    xs.int8 = int8->x;
    wc.int8 = int8->w;
  } else {
    xs.f32 = as_nhwc(x.data());
    wc.f32 = w.data().contiguous();
  }
  Tensor y = conv_forward(c, lanes, xs, wc, has_bias ? bias.data().contiguous() : Tensor(), y_shape);

  std::vector<Variable> inputs{x, w};
  if (has_bias) inputs.push_back(bias);
  // dx goes back in x's layout: its strides when dense, contiguous otherwise (as empty_like).
  const Shape dx_strides = x.data().is_dense() ? x.data().strides() : contiguous_strides(x_shape);
  // Only what backward reads is kept: x for the weight gradient, w for the input gradient; as a bf16
  // copy where its values are bf16-exact (GemmLanes::keeps_bf16; a copy made for the forward GEMM
  // is reused), else as the int8 form, the codebook codes, or the fp32 values (GemmOperand::keep).
  BackwardOperands ops = backward ? *backward : BackwardOperands{};
  GemmOperand saved_x, saved_w;
  if (need_dw) {
    saved_x = ops.x_for_weights.defined() ? GemmOperand{.f32 = as_nhwc(ops.x_for_weights)} : xs;
    if (!ops.x_for_weights.defined()) saved_x.codebook = ops.x_codes;
    saved_x.keep(lanes && lanes->keeps_bf16(Gemm::backward_weights));
  }
  if (need_dx) {
    saved_w = ops.w_for_data.defined() ? GemmOperand{.f32 = ops.w_for_data.contiguous()} : wc;
    saved_w.keep(lanes && lanes->keeps_bf16(Gemm::backward_data));
  }
  const std::optional<GemmLanes> lanes_copy = lanes ? std::optional<GemmLanes>(*lanes) : std::nullopt;
  return make_result(
      y, "conv2d", std::move(inputs),
      [c, saved_x, saved_w, dx_strides, need_dx, need_dw, need_db, db_in_gemm, lanes_copy, ops = std::move(ops)](
          std::vector<Variable>& in, const Tensor& dout) mutable {
        const GemmLanes* l = lanes_copy ? &*lanes_copy : nullptr;
        const Tensor dy = as_nhwc(dout);
        if (need_dx) {
          GemmOperand g{.f32 = ops.dy_for_data ? as_nhwc(ops.dy_for_data(dy)) : dy};
          in[0].accumulate_grad(conv_backward_data(c, l, g, saved_w, dx_strides));
        }
        const Tensor db = need_db ? Tensor::empty({in[2].shape()[0]}) : Tensor();
        if (need_dw) {
          GemmOperand g{.f32 = ops.dy_for_weights ? as_nhwc(ops.dy_for_weights(dy)) : dy};
          const Tensor dw = Tensor::empty(in[1].shape());
          conv_backward_weights(c, l, saved_x, g, dw, db_in_gemm ? db : Tensor());
          in[1].accumulate_grad(dw);
        }
        if (need_db && !db_in_gemm)  // the bias gradient alone is a sum over N, H, W
          bias_backward(db.data<float>(), dy.data<float>(), dy.numel() / dy.shape()[1], dy.shape()[1]);
        if (need_db) in[2].accumulate_grad(db);
      });
}

}  // namespace lpt::ops
