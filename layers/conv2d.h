#pragma once
// Conv2d and Linear layers: parameters in PyTorch layouts (OIHW, [out, in]) with PyTorch's default
// initialisation; the arithmetic is core/ops' oneDNN conv and linear, on quantized operands where
// the layer has formats (GemmLayer).
#include "core/ops/conv.h"
#include "core/ops/linear.h"
#include "layers/gemm_layer.h"

namespace lpt {

struct Conv2dOptions {
  int64_t in_channels, out_channels, kernel;
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = true;
};

class Conv2d : public GemmLayer {
 public:
  explicit Conv2d(const Conv2dOptions& o);
  Variable forward(const Variable& x) override;
  // Evaluation without gradients with the forward GEMM in the int8 lane: what may be fused into it.
  bool int8_fusable() const;
  // Where int8_fusable(): the conv and `e` in one primitive (ops::conv2d_int8_fused; a bias folds
  // into e's shift). Otherwise, or where oneDNN has only a reference kernel for it, an undefined
  // Variable.
  Variable forward_int8_fused(const Variable& x, ops::ConvEpilogue e);
  const Conv2dOptions& options() const { return opt_; }
  const Variable& weight() const override { return weight_; }
  const Variable& bias() const { return bias_; }  // undefined when the layer has none
  GemmGeometry weight_geometry() const override;
  bool reduction_rows_shared() const override;

 protected:
  void reset_parameters(uint64_t seed) override;

 private:
  GemmGeometry geometry(const Shape& x) const;  // the GEMMs' shapes for input shape x

  Conv2dOptions opt_;
  ops::Conv2dParams params_;
  Variable weight_, bias_;
};

class Linear : public GemmLayer {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Variable forward(const Variable& x) override;
  const Variable& weight() const override { return weight_; }
  const Variable& bias() const { return bias_; }
  GemmGeometry weight_geometry() const override;
  bool reduction_rows_shared() const override { return true; }

 protected:
  void reset_parameters(uint64_t seed) override;

 private:
  int64_t in_, out_;
  Variable weight_, bias_;
};

}  // namespace lpt
