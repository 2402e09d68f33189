#include "core/ops/linear.h"

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/elementwise.h"
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

dnnl::memory mem(const dnnl::memory::desc& md, const Tensor& t) { return dnnl::memory(md, onednn::engine(), t.raw_data()); }

// One matmul direction for f32, bf16 or (forward) int8 operands, created once per shape and cached.
struct Matmul {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
  std::string impl;
  explicit Matmul(dnnl::matmul::primitive_desc p) : pd(std::move(p)), prim(pd), impl(onednn::impl_name(pd)) {}
};

struct LinearShape {
  int64_t n, in, out;
  bool bias;
  // The cached primitives of one direction ("fwd", "bwd-data", "bwd-weights").
  template <class Make>
  std::shared_ptr<Matmul> get(const char* direction, onednn::dt operands, Make&& make) const {
    const std::string key = std::string("linear ") + direction + " " + onednn::operands_label(operands) +
                            std::to_string(n) + "x" + std::to_string(in) + "->" + std::to_string(out) +
                            (bias ? " bias" : "");
    return onednn::PrimitiveCache::get<Matmul>(key, [&] { return Matmul(make(operands)); });
  }
};

// y = x·wᵀ + b (b may be undefined).
Tensor linear_forward(const LinearShape& s, const GemmLanes* lanes, GemmOperand& x, GemmOperand& w, const Tensor& b) {
  Tensor y = Tensor::empty({s.n, s.out});
  LinearShape unbiased = s;  // a scaled output takes its bias after the scale
  unbiased.bias = false;
  run_gemm(
      lanes, Gemm::forward, x, w, s.out,
      [&](Lane lane, const GemmOperand& a, bool scaled) {
        const LinearShape& u = scaled ? unbiased : s;
        return u.get("fwd", onednn::operand_type(lane, a), [&](onednn::dt t) {
          return onednn::is_int8(t) ? onednn::linear_forward_int8_pd(u.n, u.in, u.out, u.bias, t)
                                    : onednn::linear_forward_pd(u.n, u.in, u.out, u.bias, t);
        });
      },
      [&](Matmul& st, const Tensor& xv, const Tensor& wv, const Tensor& scales, float out_scale) {
        std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, mem(st.pd.src_desc(), xv)},
                                                   {DNNL_ARG_WEIGHTS, mem(st.pd.weights_desc(), wv)},
                                                   {DNNL_ARG_DST, mem(st.pd.dst_desc(), y)}};
        if (scales.defined()) {  // int8: y = sum·scale (+ b) by post-ops
          onednn::add_int8_output_args(st.pd, {.shift = b.defined()}, scales, b, Tensor(), args);
        } else if (b.defined() && out_scale == 1.0f) {
          args[DNNL_ARG_BIAS] = mem(st.pd.bias_desc(), b);
        }
        st.prim.execute(onednn::stream(), args);
        if (out_scale != 1.0f) scale_add_bias_inplace(y, out_scale, b);
      });
  return y;
}

// dx = dy·w.
Tensor linear_backward_data(const LinearShape& s, const GemmLanes* lanes, GemmOperand& dy, GemmOperand& w) {
  Tensor dx = Tensor::empty({s.n, s.in});
  run_gemm(
      lanes, Gemm::backward_data, dy, w, s.in,
      [&](Lane lane, const GemmOperand& a, bool) {
        return s.get("bwd-data", onednn::operand_type(lane, a),
                     [&](onednn::dt t) { return onednn::linear_backward_data_pd(s.n, s.in, s.out, t); });
      },
      [&](Matmul& st, const Tensor& dyv, const Tensor& wv, const Tensor&, float out_scale) {
        st.prim.execute(onednn::stream(), {{DNNL_ARG_SRC, mem(st.pd.src_desc(), dyv)},
                                           {DNNL_ARG_WEIGHTS, mem(st.pd.weights_desc(), wv)},
                                           {DNNL_ARG_DST, mem(st.pd.dst_desc(), dx)}});
        if (out_scale != 1.0f) scale_inplace(dx, out_scale);
      });
  return dx;
}

// dw = dyᵀ·x.
Tensor linear_backward_weights(const LinearShape& s, const GemmLanes* lanes, GemmOperand& x, GemmOperand& dy) {
  Tensor dw = Tensor::empty({s.out, s.in});
  run_gemm(
      lanes, Gemm::backward_weights, x, dy, s.out,
      [&](Lane lane, const GemmOperand& a, bool) {
        return s.get("bwd-weights", onednn::operand_type(lane, a),
                     [&](onednn::dt t) { return onednn::linear_backward_weights_pd(s.n, s.in, s.out, t); });
      },
      [&](Matmul& st, const Tensor& xv, const Tensor& dyv, const Tensor&, float out_scale) {
        st.prim.execute(onednn::stream(), {{DNNL_ARG_SRC, mem(st.pd.src_desc(), dyv)},
                                           {DNNL_ARG_WEIGHTS, mem(st.pd.weights_desc(), xv)},
                                           {DNNL_ARG_DST, mem(st.pd.dst_desc(), dw)}});
        if (out_scale != 1.0f) scale_inplace(dw, out_scale);
      });
  return dw;
}

}  // namespace

Variable linear(const Variable& x, const Variable& w, const Variable& bias, const BackwardOperands* backward,
                const GemmLanes* lanes, const ForwardInt8* int8) {
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
  const LinearShape s{n, in, out, has_bias};

  // With int8 operands, x's and w's data are not read (as conv2d).
  GemmOperand xc, wc;
  if (int8) {
    LPT_CHECK(int8->x.data.shape() == xs && int8->x.data.is_contiguous() && int8->w.data.shape() == ws &&
                  int8->w.data.is_contiguous(),
              "linear: int8 operands ", int8->x.data.describe(), " and ", int8->w.data.describe(),
              " do not match input ", shape_str(xs), " and weight ", shape_str(ws));
    xc.int8 = int8->x;
    wc.int8 = int8->w;
  } else {
    xc.f32 = x.data().contiguous();
    wc.f32 = w.data().contiguous();
  }
  Tensor y = linear_forward(s, lanes, xc, wc, has_bias ? bias.data().contiguous() : Tensor());

  std::vector<Variable> inputs{x, w};
  if (has_bias) inputs.push_back(bias);
  // Only what backward reads is kept: x for the weight gradient, w for the input gradient, as a bf16
  // copy where its values are bf16-exact (GemmLanes::keeps_bf16), else as the int8 form, the
  // codebook codes, or the fp32 values (GemmOperand::keep).
  BackwardOperands ops = backward ? *backward : BackwardOperands{};
  GemmOperand saved_x, saved_w;
  if (need_dw) {
    saved_x = ops.x_for_weights.defined() ? GemmOperand{.f32 = ops.x_for_weights.contiguous()} : xc;
    if (!ops.x_for_weights.defined()) saved_x.codebook = ops.x_codes;
    saved_x.keep(lanes && lanes->keeps_bf16(Gemm::backward_weights));
  }
  if (need_dx) {
    saved_w = ops.w_for_data.defined() ? GemmOperand{.f32 = ops.w_for_data.contiguous()} : wc;
    saved_w.keep(lanes && lanes->keeps_bf16(Gemm::backward_data));
  }
  const std::optional<GemmLanes> lanes_copy = lanes ? std::optional<GemmLanes>(*lanes) : std::nullopt;
  return make_result(
      y, "linear", std::move(inputs),
      [s, saved_x, saved_w, need_dx, need_dw, need_db, lanes_copy, ops = std::move(ops)](
          std::vector<Variable>& in, const Tensor& dout) mutable {
        const GemmLanes* l = lanes_copy ? &*lanes_copy : nullptr;
        const Tensor dy = dout.contiguous();
        if (need_dx) {
          GemmOperand g{.f32 = ops.dy_for_data ? ops.dy_for_data(dy).contiguous() : dy};
          in[0].accumulate_grad(linear_backward_data(s, l, g, saved_w));
        }
        if (need_dw) {
          GemmOperand g{.f32 = ops.dy_for_weights ? ops.dy_for_weights(dy).contiguous() : dy};
          in[1].accumulate_grad(linear_backward_weights(s, l, saved_x, g));
        }
        if (need_db) {
          Tensor db = Tensor::empty({dy.size(1)});
          bias_backward(db.data<float>(), dy.data<float>(), dy.size(0), dy.size(1));
          in[2].accumulate_grad(db);
        }
      });
}

}  // namespace lpt::ops
