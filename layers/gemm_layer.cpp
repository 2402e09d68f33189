#include "layers/gemm_layer.h"

#include "core/error.h"

namespace lpt {

void GemmLayer::set_quantization(const GemmFormats& f) {
  if (!quantizer_) {
    LPT_CHECK(!name().empty(), "set_quantization: the layer has no name yet (call name_modules on the model first)");
    quantizer_ = std::make_unique<GemmQuantizer>(name(), input_nonnegative_);
  }
  quantizer_->set_formats(f);
}

void GemmLayer::on_begin_step(uint64_t seed, uint64_t step) {
  if (quantizer_) quantizer_->begin_step(seed, step);
}

}  // namespace lpt
