#include "layers/batch_norm.h"

#include <cmath>

#include "layers/batch_norm_sync.h"

namespace lpt {

namespace {
ops::ProcessSum& sync_sum() {
  static ops::ProcessSum sum;
  return sum;
}
}  // namespace

void set_batch_norm_sync(ops::ProcessSum sum) { sync_sum() = std::move(sum); }
bool batch_norm_sync_enabled() { return bool(sync_sum()); }

BatchNorm2d::BatchNorm2d(int64_t channels, float momentum, float eps, bool fuse_relu) : channels_(channels) {
  LPT_CHECK(channels > 0, "BatchNorm2d: channels must be positive, got ", channels);
  params_.momentum = momentum;
  params_.eps = eps;
  params_.fuse_relu = fuse_relu;
  weight_ = register_parameter("weight", Tensor::full({channels}, 1.0f));
  bias_ = register_parameter("bias", Tensor::zeros({channels}));
  running_mean_ = &register_buffer("running_mean", Tensor::zeros({channels}));
  running_var_ = &register_buffer("running_var", Tensor::full({channels}, 1.0f));
  num_batches_tracked_ = &register_buffer("num_batches_tracked", Tensor::zeros({}, DType::s32));
}

void BatchNorm2d::reset_parameters(uint64_t) {
  weight_.data().fill(1.0f);
  bias_.data().zero();
  running_mean_->zero();
  running_var_->fill(1.0f);
  num_batches_tracked_->zero();
}

Variable BatchNorm2d::forward(const Variable& x) {
  ops::BatchNormParams p = params_;
  p.training = training();
  if (p.training && grad_enabled()) ++num_batches_tracked_->data<int32_t>()[0];
  return ops::batch_norm2d(x, weight_, bias_, *running_mean_, *running_var_, p, sync_sum());
}

ops::ConvEpilogue BatchNorm2d::eval_affine() const {
  ops::ConvEpilogue e;
  e.multiplier = Tensor::empty({channels_});
  e.shift = Tensor::empty({channels_});
  const float *g = weight_.data().data<float>(), *b = bias_.data().data<float>();
  const float *mean = running_mean_->data<float>(), *var = running_var_->data<float>();
  for (int64_t c = 0; c < channels_; ++c) {
    const double a = double(g[c]) / std::sqrt(double(var[c]) + double(params_.eps));
    e.multiplier.data<float>()[c] = float(a);
    e.shift.data<float>()[c] = float(double(b[c]) - double(mean[c]) * a);
  }
  return e;
}

}  // namespace lpt
