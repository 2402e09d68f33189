#pragma once
// A conv or linear layer's number formats per operand role (SPEC §2) and how gradients pass its
// quantizers (SPEC §4). A null format is fp32. experiments/ resolves these from the experiment's
// global roles, per-layer glob rules and the Accuracy Booster schedule.
#include <memory>
#include <string>

#include "formats/format.h"

namespace lpt {

// The gradient of q(x) with respect to x, for clip value s: STE 1; PWL (clipped STE) 1 where
// |x| ≤ s, else 0; MAD (magnitude-aware) 1 where |x| ≤ s, else s/|x|. No gradient flows to s.
enum class Estimator { ste, pwl, mad };
const char* estimator_name(Estimator e);

// Where a layer's GEMMs run (SPEC §9): emulated in fp32 on fake-quantized values; native, in bf16
// where both operands are bf16-exact (a config error where a GEMM cannot); automatic: native
// wherever a GEMM can, emulated elsewhere.
enum class Execution { automatic, emulated, native };
const char* execution_name(Execution e);  // "auto", "emulated", "native"

struct GemmFormats {
  std::shared_ptr<const formats::Format> weights, activations, errors, weight_gradients;
  // Per-GEMM overrides (SPEC §2): a backward GEMM's operand in its own format, quantized from fp32
  // along that GEMM's reduction axis; null: the role's format (for w and x, the forward-quantized
  // operand unless requantize_backward).
  std::shared_ptr<const formats::Format> weights_backward_data;        // w in dx = dy ⊛ wᵀ
  std::shared_ptr<const formats::Format> errors_backward_data;         // dy in dx = dy ⊛ wᵀ
  std::shared_ptr<const formats::Format> activations_backward_weights;  // x in dw = xᵀ ⊛ dy
  std::shared_ptr<const formats::Format> errors_backward_weights;      // dy in dw = xᵀ ⊛ dy
  Estimator weight_estimator = Estimator::ste;
  Estimator activation_estimator = Estimator::ste;
  // Backward GEMMs re-quantize x and w from fp32 along their own reduction axes (hardware
  // semantics) instead of reusing the forward-quantized operands (QAT semantics, the default).
  bool requantize_backward = false;
  // The random Hadamard transform on the backward-weights GEMM's x and dy before they are quantized
  // (layers/quant/hadamard.h); x is then re-quantized from fp32. Only where x and dy share the
  // GEMM's reduction rows (GemmLayer::reduction_rows_shared): experiments/ sets it nowhere else.
  bool hadamard = false;
  Execution execution = Execution::automatic;

  bool any() const {
    return hadamard || weights || activations || errors || weight_gradients || weights_backward_data || errors_backward_data ||
           activations_backward_weights || errors_backward_weights;
  }
};

}  // namespace lpt
