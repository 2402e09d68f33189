#pragma once
// What conv and linear layers share: they run GEMMs whose operands may be quantized (SPEC §2).
// A model marks the layers whose input is a ReLU/ReLU6 output (INT's signed: "auto" goes
// unsigned there); experiments/ gives each layer its formats.
#include <memory>

#include "layers/module.h"
#include "layers/quant/gemm_quantizer.h"

namespace lpt {

class GemmLayer : public Module {
 public:
  // Formats for this layer's GEMMs (all null: fp32). The quantizer is created at the first call,
  // named after the layer, so models must be named first.
  void set_quantization(const GemmFormats& f);
  // Null until set_quantization is called.
  GemmQuantizer* quantizer() const { return quantizer_.get(); }
  bool quantized() const { return quantizer_ && quantizer_->active(); }

  // The weight every GEMM of the layer multiplies, and the GEMM shapes it takes part in (batch
  // and image sizes 1: what the weight's blocking depends on).
  virtual const Variable& weight() const = 0;
  virtual GemmGeometry weight_geometry() const = 0;
  // Whether the backward-weights GEMM reads x and dy at the same reduction index (n,h,w): linear
  // layers and 1×1, stride-1, unpadded convolutions — where the random Hadamard transform holds
  // (SPEC §2). A k×k or strided convolution reads x at (h·s + kh, w·s + kw).
  virtual bool reduction_rows_shared() const = 0;

  void set_input_nonnegative(bool on) { input_nonnegative_ = on; }
  bool input_nonnegative() const { return input_nonnegative_; }

 protected:
  void on_begin_step(uint64_t seed, uint64_t step) override;

 private:
  bool input_nonnegative_ = false;
  std::unique_ptr<GemmQuantizer> quantizer_;
};

}  // namespace lpt
