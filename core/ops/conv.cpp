#include "core/ops/conv.h"

#include <optional>

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

dnnl::memory mem(const dnnl::memory::desc& md, const Tensor& t) {
  return dnnl::memory(md, onednn::engine(), t.data<float>());
}

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

  // The weights w (OIHW) in the primitive's layout.
  dnnl::memory input(const Tensor& w) {
    dnnl::memory u = mem(user, w);
    if (!buffer) return u;
    reorder.execute(onednn::stream(), u, buffer);
    return buffer;
  }
  // Where the primitive writes the gradient that finish_output() then leaves in dw (OIHW).
  dnnl::memory output(const Tensor& dw) { return buffer ? buffer : mem(user, dw); }
  void finish_output(const Tensor& dw) {
    if (!buffer) return;
    dnnl::memory u = mem(user, dw);
    reorder.execute(onednn::stream(), buffer, u);
  }
};

// Everything oneDNN needs for one conv shape, parameters and set of wanted gradients.
struct ConvPrimitives {
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_forward fwd;
  WeightsLayout fwd_weights;
  // Present when the input needs a gradient.
  std::optional<dnnl::convolution_backward_data::primitive_desc> bwd_data_pd;
  std::optional<dnnl::convolution_backward_data> bwd_data;
  std::optional<WeightsLayout> bwd_data_weights;
  // Present when the weights need a gradient; includes the bias gradient when that is wanted too.
  std::optional<dnnl::convolution_backward_weights::primitive_desc> bwd_weights_pd;
  std::optional<dnnl::convolution_backward_weights> bwd_weights;
  std::optional<WeightsLayout> diff_weights;

  ConvPrimitives(const Shape& x, const Shape& w, bool bias, const Conv2dParams& p, bool need_dx, bool need_dw,
                 bool need_db)
      : fwd_pd(onednn::conv_forward_pd(x, w, bias, p)),
        fwd(fwd_pd),
        fwd_weights(onednn::conv_user_weights_desc(w, p.groups), fwd_pd.weights_desc(), true,
                    "conv2d fwd weights " + onednn::conv_label(x, w, bias, p)) {
    const dnnl::memory::desc user_w = onednn::conv_user_weights_desc(w, p.groups);
    if (need_dx) {
      bwd_data_pd = onednn::conv_backward_data_pd(x, w, p, fwd_pd);
      bwd_data.emplace(*bwd_data_pd);
      bwd_data_weights.emplace(user_w, bwd_data_pd->weights_desc(), true,
                               "conv2d bwd-data weights " + onednn::conv_label(x, w, false, p));
    }
    if (need_dw) {
      bwd_weights_pd = onednn::conv_backward_weights_pd(x, w, need_db, p, fwd_pd);
      bwd_weights.emplace(*bwd_weights_pd);
      diff_weights.emplace(user_w, bwd_weights_pd->diff_weights_desc(), false,
                           "conv2d bwd-weights diff_weights " + onednn::conv_label(x, w, need_db, p));
    }
  }
};

// y = conv(x, w) + b. x in nhwc order; w OIHW; b may be undefined.
Tensor conv_forward(ConvPrimitives& st, const Tensor& x, const Tensor& w, const Tensor& b, const Shape& y_shape) {
  Tensor y = Tensor::empty(y_shape, DType::f32, MemoryFormat::channels_last);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, mem(st.fwd_pd.src_desc(), x)},
                                             {DNNL_ARG_WEIGHTS, st.fwd_weights.input(w)},
                                             {DNNL_ARG_DST, mem(st.fwd_pd.dst_desc(), y)}};
  if (b.defined()) args[DNNL_ARG_BIAS] = onednn::wrap(b);
  st.fwd.execute(onednn::stream(), args);
  return y;
}

// dx = dy ⊛ wᵀ, returned with the given strides (x's layout).
Tensor conv_backward_data(ConvPrimitives& st, const Tensor& dy, const Tensor& w, const Shape& x_shape,
                          const Shape& dx_strides) {
  const bool direct = nhwc_order(x_shape, dx_strides);
  Tensor dx = direct ? Tensor::empty_strided(x_shape, dx_strides)
                     : Tensor::empty(x_shape, DType::f32, MemoryFormat::channels_last);
  st.bwd_data->execute(onednn::stream(), {{DNNL_ARG_DIFF_DST, mem(st.bwd_data_pd->diff_dst_desc(), dy)},
                                          {DNNL_ARG_WEIGHTS, st.bwd_data_weights->input(w)},
                                          {DNNL_ARG_DIFF_SRC, mem(st.bwd_data_pd->diff_src_desc(), dx)}});
  if (direct) return dx;
  Tensor in_layout = Tensor::empty_strided(x_shape, dx_strides);
  in_layout.copy_from(dx);
  return in_layout;
}

// dw = xᵀ ⊛ dy into dw (OIHW), and db = sum of dy over N, H, W into db when it is defined.
void conv_backward_weights(ConvPrimitives& st, const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& db) {
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, mem(st.bwd_weights_pd->src_desc(), x)},
                                             {DNNL_ARG_DIFF_DST, mem(st.bwd_weights_pd->diff_dst_desc(), dy)},
                                             {DNNL_ARG_DIFF_WEIGHTS, st.diff_weights->output(dw)}};
  if (db.defined()) args[DNNL_ARG_DIFF_BIAS] = onednn::wrap(db);
  st.bwd_weights->execute(onednn::stream(), args);
  st.diff_weights->finish_output(dw);
}

}  // namespace

Variable conv2d(const Variable& x, const Variable& w, const Variable& bias, const Conv2dParams& p,
                const BackwardOperands* backward) {
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
  const std::string key = "conv2d " + onednn::conv_label(x_shape, w_shape, has_bias, p) + (need_dx ? " dx" : "") +
                          (need_dw ? " dw" : "") + (db_in_gemm ? " db" : "");
  auto st = onednn::PrimitiveCache::get<ConvPrimitives>(
      key, [&] { return ConvPrimitives(x_shape, w_shape, has_bias, p, need_dx, need_dw, db_in_gemm); });

  const Tensor xs = as_nhwc(x.data());
  const Tensor wc = w.data().contiguous();
  Tensor y = conv_forward(*st, xs, wc, has_bias ? bias.data().contiguous() : Tensor(), y_shape);

  std::vector<Variable> inputs{x, w};
  if (has_bias) inputs.push_back(bias);
  // dx goes back in x's layout: its strides when dense, contiguous otherwise (as empty_like).
  const Shape dx_strides = x.data().is_dense() ? x.data().strides() : contiguous_strides(x_shape);
  // Only what backward reads is captured: x for the weight gradient, w for the input gradient.
  BackwardOperands ops = backward ? *backward : BackwardOperands{};
  const Tensor saved_x = !need_dw ? Tensor() : ops.x_for_weights.defined() ? as_nhwc(ops.x_for_weights) : xs;
  const Tensor saved_w = !need_dx ? Tensor() : ops.w_for_data.defined() ? ops.w_for_data.contiguous() : wc;
  return make_result(
      y, "conv2d", std::move(inputs),
      [st, saved_x, saved_w, dx_strides, need_dx, need_dw, need_db, db_in_gemm, ops = std::move(ops)](
          std::vector<Variable>& in, const Tensor& dout) {
        const Tensor dy = as_nhwc(dout);
        if (need_dx) {
          const Tensor g = ops.dy_for_data ? as_nhwc(ops.dy_for_data(dy)) : dy;
          in[0].accumulate_grad(conv_backward_data(*st, g, saved_w, in[0].shape(), dx_strides));
        }
        const Tensor db = need_db ? Tensor::empty({in[2].shape()[0]}) : Tensor();
        if (need_dw) {
          const Tensor g = ops.dy_for_weights ? as_nhwc(ops.dy_for_weights(dy)) : dy;
          const Tensor dw = Tensor::empty(in[1].shape());
          conv_backward_weights(*st, saved_x, g, dw, db_in_gemm ? db : Tensor());
          in[1].accumulate_grad(dw);
        }
        if (need_db && !db_in_gemm)  // the bias gradient alone is a sum over N, H, W
          bias_backward(db.data<float>(), dy.data<float>(), dy.numel() / dy.shape()[1], dy.shape()[1]);
        if (need_db) in[2].accumulate_grad(db);
      });
}

}  // namespace lpt::ops
