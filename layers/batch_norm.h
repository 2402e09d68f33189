#pragma once
// BatchNorm2d: weight (gamma) 1, bias (beta) 0, buffers running_mean, running_var and
// num_batches_tracked as in PyTorch. `fuse_relu` makes it compute relu(bn(x)) in one oneDNN
// primitive (the model then omits the separate ReLU; parameter names do not change).
#include "core/ops/batch_norm.h"
#include "core/ops/conv.h"
#include "layers/module.h"

namespace lpt {

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, float momentum = 0.1f, float eps = 1e-5f, bool fuse_relu = false);
  Variable forward(const Variable& x) override;
  const Variable& weight() const { return weight_; }
  const Variable& bias() const { return bias_; }
  Tensor& running_mean() { return *running_mean_; }
  Tensor& running_var() { return *running_var_; }
  bool fuses_relu() const { return params_.fuse_relu; }
  // Evaluation's affine map per channel, y = x·multiplier + shift with multiplier = γ/√(σ² + ε)
  // and shift = β − μ·multiplier from the running statistics (worked out in double, rounded once).
  ops::ConvEpilogue eval_affine() const;

 protected:
  void reset_parameters(uint64_t seed) override;

 private:
  int64_t channels_;
  ops::BatchNormParams params_;
  Variable weight_, bias_;
  Tensor *running_mean_, *running_var_, *num_batches_tracked_;
};

}  // namespace lpt
