#include "core/ops/batch_norm.h"

#include <cstdio>

#include "core/elementwise.h"
#include "core/onednn/context.h"
#include "core/onednn/norm_pool_pd.h"

namespace lpt::ops {

namespace {

struct BatchNormForward {
  dnnl::batch_normalization_forward::primitive_desc pd;
  dnnl::batch_normalization_forward prim;
};

struct BatchNormBackward {
  dnnl::batch_normalization_backward::primitive_desc pd;
  dnnl::batch_normalization_backward prim;
};

std::string spec_key(const dnnl::memory::desc& md, const onednn::BatchNormSpec& s) {
  char eps[32];
  std::snprintf(eps, sizeof eps, "%a", double(s.eps));  // exact, so no two eps share primitives
  return onednn::desc_key(md) + " eps=" + eps + (s.global_stats ? " global" : " batch") + (s.fuse_relu ? " relu" : "") +
         (s.for_training ? " training" : " inference");
}

std::string describe(const Shape& shape, const onednn::BatchNormSpec& s) {
  return shape_str(shape) + (s.global_stats ? " running-stats" : " batch-stats") + (s.fuse_relu ? " relu" : "") +
         (s.for_training ? " training" : " inference");
}

std::shared_ptr<BatchNormForward> forward_primitive(const dnnl::memory::desc& md, const Shape& shape,
                                                    const onednn::BatchNormSpec& s) {
  return onednn::PrimitiveCache::get<BatchNormForward>("batch_norm fwd " + spec_key(md, s), [&] {
    auto pd = onednn::batch_norm_forward_pd(md, s);
    onednn::record_impl("batch_norm fwd " + describe(shape, s), onednn::impl_name(pd));
    return BatchNormForward{pd, dnnl::batch_normalization_forward(pd)};
  });
}

std::shared_ptr<BatchNormBackward> backward_primitive(const dnnl::memory::desc& md, const Shape& shape,
                                                      const onednn::BatchNormSpec& s) {
  return onednn::PrimitiveCache::get<BatchNormBackward>("batch_norm bwd " + spec_key(md, s), [&] {
    auto pd = onednn::batch_norm_backward_pd(md, s, forward_primitive(md, shape, s)->pd);
    onednn::record_impl("batch_norm bwd " + describe(shape, s), onednn::impl_name(pd));
    return BatchNormBackward{pd, dnnl::batch_normalization_backward(pd)};
  });
}

void check_channel_vector(const char* what, const Tensor& t, int64_t C, const Shape& x_shape) {
  LPT_CHECK(t.defined(), "batch_norm2d: ", what, " is undefined (input ", shape_str(x_shape), ")");
  LPT_CHECK(t.dtype() == DType::f32 && t.shape() == Shape{C} && t.is_contiguous(), "batch_norm2d: ", what, " is ",
            t.describe(), ", expected contiguous f32[", C, "] for input ", shape_str(x_shape));
}

// A oneDNN memory over the workspace (fused-ReLU mask), or an empty one when there is none.
dnnl::memory wrap_workspace(const Tensor& ws, const dnnl::memory::desc& md) {
  return ws.defined() ? onednn::wrap_as(ws, md) : dnnl::memory(md, onednn::engine(), nullptr);
}

// running = (1 - momentum)·running + momentum·batch, with the unbiased variance in running_var:
// PyTorch's update, in double as PyTorch's CPU kernel does it (the normalisation itself uses the
// biased variance).
void update_running_stats(float* running_mean, float* running_var, const float* batch_mean,
                          const float* batch_var_biased, int64_t channels, int64_t count, double momentum) {
  const double unbias = double(count) / double(count - 1);
  for (int64_t c = 0; c < channels; ++c) {
    running_mean[c] = float(momentum * batch_mean[c] + (1.0 - momentum) * running_mean[c]);
    running_var[c] = float(momentum * (batch_var_biased[c] * unbias) + (1.0 - momentum) * running_var[c]);
  }
}

// What the backward needs from the forward.
struct BatchNormSaved {
  Tensor in, gamma, beta;
  Tensor mean, var;  // the statistics the output was normalised with
  Tensor workspace;  // fused-ReLU mask, when the forward wrote one
  onednn::BatchNormSpec spec;
};

// y = bn(x) (relu'd when fused). With batch statistics it writes them into s.mean and s.var;
// with global ones it reads them from there.
void batch_norm_forward(BatchNormSaved& s, const Tensor& out) {
  const dnnl::memory::desc md = onednn::desc_of(s.in);
  const auto fwd = forward_primitive(md, s.in.shape(), s.spec);
  const dnnl::memory::desc ws_md = fwd->pd.workspace_desc();
  if (ws_md.get_size()) s.workspace = Tensor::empty({int64_t(ws_md.get_size())}, DType::u8);
  fwd->prim.execute(onednn::stream(), {{DNNL_ARG_SRC, onednn::wrap(s.in)},
                                       {DNNL_ARG_DST, onednn::wrap(out)},
                                       {DNNL_ARG_SCALE, onednn::wrap(s.gamma)},
                                       {DNNL_ARG_SHIFT, onednn::wrap(s.beta)},
                                       {DNNL_ARG_MEAN, onednn::wrap(s.mean)},
                                       {DNNL_ARG_VARIANCE, onednn::wrap(s.var)},
                                       {DNNL_ARG_WORKSPACE, wrap_workspace(s.workspace, ws_md)}});
  onednn::stream().wait();
}

// dx, dgamma and dbeta from dy (in the input's layout).
void batch_norm_backward(const BatchNormSaved& s, const Tensor& dy, const Tensor& dx, const Tensor& dgamma,
                         const Tensor& dbeta) {
  const dnnl::memory::desc md = onednn::desc_of(s.in);
  const auto bwd = backward_primitive(md, s.in.shape(), s.spec);
  // The tbb_jit kernels (C not a multiple of 16) read the shift too, so it is always passed.
  bwd->prim.execute(onednn::stream(), {{DNNL_ARG_SRC, onednn::wrap(s.in)},
                                       {DNNL_ARG_DIFF_DST, onednn::wrap(dy)},
                                       {DNNL_ARG_SCALE, onednn::wrap(s.gamma)},
                                       {DNNL_ARG_SHIFT, onednn::wrap(s.beta)},
                                       {DNNL_ARG_MEAN, onednn::wrap(s.mean)},
                                       {DNNL_ARG_VARIANCE, onednn::wrap(s.var)},
                                       {DNNL_ARG_WORKSPACE, wrap_workspace(s.workspace, bwd->pd.workspace_desc())},
                                       {DNNL_ARG_DIFF_SRC, onednn::wrap(dx)},
                                       {DNNL_ARG_DIFF_SCALE, onednn::wrap(dgamma)},
                                       {DNNL_ARG_DIFF_SHIFT, onednn::wrap(dbeta)}});
  onednn::stream().wait();
}

}  // namespace

Variable batch_norm2d(const Variable& x, const Variable& weight, const Variable& bias, Tensor& running_mean,
                      Tensor& running_var, const BatchNormParams& p) {
  const Shape& shape = x.shape();
  LPT_CHECK(shape.size() == 4 && x.data().dtype() == DType::f32, "batch_norm2d: input is ", x.data().describe(),
            ", expected f32 [N, C, H, W]");
  const int64_t C = shape[1], count = shape[0] * shape[2] * shape[3];
  LPT_CHECK(weight.defined() && bias.defined(), "batch_norm2d: weight and bias are required (input ", shape_str(shape),
            ")");
  check_channel_vector("weight", weight.data(), C, shape);
  check_channel_vector("bias", bias.data(), C, shape);
  check_channel_vector("running_mean", running_mean, C, shape);
  check_channel_vector("running_var", running_var, C, shape);
  LPT_CHECK(!p.training || count > 1, "batch_norm2d: training needs more than one value per channel, input is ",
            shape_str(shape));

  const bool needs_grad = grad_enabled() && (x.requires_grad() || weight.requires_grad() || bias.requires_grad());
  BatchNormSaved s;
  s.in = x.data().to(MemoryFormat::channels_last);
  s.gamma = weight.data();
  s.beta = bias.data();
  s.spec.eps = p.eps;
  s.spec.global_stats = !p.training;
  s.spec.fuse_relu = p.fuse_relu;
  // Training always runs forward_training: it is the pass that returns the batch statistics.
  s.spec.for_training = p.training || needs_grad;
  // Inference normalises with a copy of the running statistics, so that the backward sees the
  // same values even if the buffers change before it runs.
  s.mean = p.training ? Tensor::empty({C}) : running_mean.clone();
  s.var = p.training ? Tensor::empty({C}) : running_var.clone();

  Tensor out = Tensor::empty(shape, DType::f32, MemoryFormat::channels_last);
  batch_norm_forward(s, out);
  if (p.training)
    update_running_stats(running_mean.data<float>(), running_var.data<float>(), s.mean.data<float>(),
                         s.var.data<float>(), C, count, p.momentum);

  return make_result(out, "batch_norm2d", {x, weight, bias}, [s](std::vector<Variable>& inputs, const Tensor& dout) {
    Tensor dx = Tensor::empty_like(s.in);
    Tensor dgamma = Tensor::empty({s.gamma.numel()}), dbeta = Tensor::empty({s.beta.numel()});
    batch_norm_backward(s, like_layout(dout, s.in), dx, dgamma, dbeta);
    if (inputs[0].requires_grad()) inputs[0].accumulate_grad(dx);
    if (inputs[1].requires_grad()) inputs[1].accumulate_grad(dgamma);
    if (inputs[2].requires_grad()) inputs[2].accumulate_grad(dbeta);
  });
}

}  // namespace lpt::ops
