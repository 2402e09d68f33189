#include "core/ops/linear.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "core/onednn/conv_pd.h"

namespace lpt::ops {

void bias_backward(float* db, const float* dy, int64_t rows, int64_t cols) {
  // Partial sums over a fixed number of row chunks, then added in chunk order: parallel, yet the
  // same bits for every thread count.
  constexpr int64_t kChunks = 32;
  const int64_t chunks = std::min(rows, kChunks);
  std::vector<float> partial(size_t(chunks * cols), 0.0f);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    float* acc = partial.data() + c * cols;
    for (int64_t i = rows * c / chunks; i < rows * (c + 1) / chunks; ++i) {
      const float* row = dy + i * cols;
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) acc[j] += row[j];
    }
  }
#pragma omp parallel for simd schedule(static)
  for (int64_t j = 0; j < cols; ++j) {
    float s = 0.0f;
    for (int64_t c = 0; c < chunks; ++c) s += partial[size_t(c * cols + j)];
    db[j] = s;
  }
}

namespace {

// The matmul primitives for one linear shape and set of wanted gradients.
struct LinearPrimitives {
  dnnl::matmul::primitive_desc fwd_pd;
  dnnl::matmul fwd;
  std::optional<dnnl::matmul::primitive_desc> bwd_data_pd;  // present when x needs a gradient
  std::optional<dnnl::matmul> bwd_data;
  std::optional<dnnl::matmul::primitive_desc> bwd_weights_pd;  // present when w needs a gradient
  std::optional<dnnl::matmul> bwd_weights;

  LinearPrimitives(int64_t n, int64_t in, int64_t out, bool bias, bool need_dx, bool need_dw)
      : fwd_pd(onednn::linear_forward_pd(n, in, out, bias)), fwd(fwd_pd) {
    if (need_dx) {
      bwd_data_pd = onednn::linear_backward_data_pd(n, in, out);
      bwd_data.emplace(*bwd_data_pd);
    }
    if (need_dw) {
      bwd_weights_pd = onednn::linear_backward_weights_pd(n, in, out);
      bwd_weights.emplace(*bwd_weights_pd);
    }
  }
};

dnnl::memory mem(const dnnl::memory::desc& md, const Tensor& t) {
  return dnnl::memory(md, onednn::engine(), t.data<float>());
}

// y = x·wᵀ + b (b may be undefined).
Tensor linear_forward(LinearPrimitives& st, const Tensor& x, const Tensor& w, const Tensor& b) {
  Tensor y = Tensor::empty({x.size(0), w.size(0)});
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, mem(st.fwd_pd.src_desc(), x)},
                                             {DNNL_ARG_WEIGHTS, mem(st.fwd_pd.weights_desc(), w)},
                                             {DNNL_ARG_DST, mem(st.fwd_pd.dst_desc(), y)}};
  if (b.defined()) args[DNNL_ARG_BIAS] = mem(st.fwd_pd.bias_desc(), b);
  st.fwd.execute(onednn::stream(), args);
  return y;
}

// dx = dy·w.
Tensor linear_backward_data(LinearPrimitives& st, const Tensor& dy, const Tensor& w) {
  Tensor dx = Tensor::empty({dy.size(0), w.size(1)});
  st.bwd_data->execute(onednn::stream(), {{DNNL_ARG_SRC, mem(st.bwd_data_pd->src_desc(), dy)},
                                          {DNNL_ARG_WEIGHTS, mem(st.bwd_data_pd->weights_desc(), w)},
                                          {DNNL_ARG_DST, mem(st.bwd_data_pd->dst_desc(), dx)}});
  return dx;
}

// dw = dyᵀ·x.
Tensor linear_backward_weights(LinearPrimitives& st, const Tensor& dy, const Tensor& x) {
  Tensor dw = Tensor::empty({dy.size(1), x.size(1)});
  st.bwd_weights->execute(onednn::stream(), {{DNNL_ARG_SRC, mem(st.bwd_weights_pd->src_desc(), dy)},
                                             {DNNL_ARG_WEIGHTS, mem(st.bwd_weights_pd->weights_desc(), x)},
                                             {DNNL_ARG_DST, mem(st.bwd_weights_pd->dst_desc(), dw)}});
  return dw;
}

}  // namespace

Variable linear(const Variable& x, const Variable& w, const Variable& bias, const BackwardOperands* backward) {
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  LPT_CHECK(xs.size() == 2, "linear: input ", shape_str(xs), " must be 2-D [N, in_features]");
  LPT_CHECK(ws.size() == 2, "linear: weight ", shape_str(ws), " must be 2-D [out_features, in_features]");
  LPT_CHECK(ws[1] == xs[1], "linear: weight ", shape_str(ws), " expects ", ws[1], " input features, input is ",
            shape_str(xs));
  const int64_t n = xs[0], in = xs[1], out = ws[0];
  LPT_CHECK(n > 0 && in > 0 && out > 0, "linear: input ", shape_str(xs), " and weight ", shape_str(ws),
            " must have no empty dimension");
  const bool has_bias = bias.defined();
  if (has_bias)
    LPT_CHECK(bias.shape() == Shape{out}, "linear: bias ", shape_str(bias.shape()), " does not match weight ",
              shape_str(ws), ": expected [", out, "]");
  for (const Variable* v : {&x, &w, &bias})
    LPT_CHECK(!v->defined() || v->data().dtype() == DType::f32, "linear: expected f32 input, weight and bias, got ",
              dtype_name(v->data().dtype()), " ", shape_str(v->shape()));
  const bool grad = grad_enabled();
  const bool need_dx = grad && x.requires_grad();
  const bool need_dw = grad && w.requires_grad();
  const bool need_db = grad && has_bias && bias.requires_grad();

  const std::string key = "linear " + std::to_string(n) + "x" + std::to_string(in) + "->" + std::to_string(out) +
                          (has_bias ? " bias" : "") + (need_dx ? " dx" : "") + (need_dw ? " dw" : "");
  auto st = onednn::PrimitiveCache::get<LinearPrimitives>(
      key, [&] { return LinearPrimitives(n, in, out, has_bias, need_dx, need_dw); });

  const Tensor xc = x.data().contiguous();
  const Tensor wc = w.data().contiguous();
  Tensor y = linear_forward(*st, xc, wc, has_bias ? bias.data().contiguous() : Tensor());

  std::vector<Variable> inputs{x, w};
  if (has_bias) inputs.push_back(bias);
  // Only what backward reads is captured: x for the weight gradient, w for the input gradient.
  BackwardOperands ops = backward ? *backward : BackwardOperands{};
  const Tensor saved_x = !need_dw ? Tensor() : ops.x_for_weights.defined() ? ops.x_for_weights.contiguous() : xc;
  const Tensor saved_w = !need_dx ? Tensor() : ops.w_for_data.defined() ? ops.w_for_data.contiguous() : wc;
  return make_result(
      y, "linear", std::move(inputs),
      [st, saved_x, saved_w, need_dx, need_dw, need_db, ops = std::move(ops)](std::vector<Variable>& in,
                                                                               const Tensor& dout) {
        const Tensor dy = dout.contiguous();
        if (need_dx)
          in[0].accumulate_grad(
              linear_backward_data(*st, ops.dy_for_data ? ops.dy_for_data(dy).contiguous() : dy, saved_w));
        if (need_dw)
          in[1].accumulate_grad(
              linear_backward_weights(*st, ops.dy_for_weights ? ops.dy_for_weights(dy).contiguous() : dy, saved_x));
        if (need_db) {
          Tensor db = Tensor::empty({dy.size(1)});
          bias_backward(db.data<float>(), dy.data<float>(), dy.size(0), dy.size(1));
          in[2].accumulate_grad(db);
        }
      });
}

}  // namespace lpt::ops
