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
  Estimator weight_estimator = Estimator::ste;
  Estimator activation_estimator = Estimator::ste;
  // Backward GEMMs re-quantize x and w from fp32 along their own reduction axes (hardware
  // semantics) instead of reusing the forward-quantized operands (QAT semantics, the default).
  bool requantize_backward = false;
  Execution execution = Execution::automatic;

  bool any() const { return weights || activations || errors || weight_gradients; }
};

}  // namespace lpt
