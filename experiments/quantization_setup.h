#pragma once
// From an experiment's /quantization section to each conv and linear layer's formats (SPEC §2):
// global roles, per-layer glob rules (later rules win; "@first" / "@last" are the first conv and
// the final linear), and the Accuracy Booster schedule by epoch. Also the model-wide views the
// trainer needs: quantizer state for checkpoints, diagnostics, multiply-adds per precision and
// PTQ calibration.
#include <string>
#include <utility>
#include <vector>

#include "experiments/schema.h"
#include "layers/gemm_layer.h"

namespace lpt {

// Checks the format objects and the layer rules of a validated /quantization section; throws
// naming `source` and the JSON path of the offending key.
void check_quantization_config(const json& quantization, const std::string& source);
// Whether any role, rule or booster sets a format.
bool quantization_enabled(const json& config);

// The model's conv and linear layers by name, in registration order.
std::vector<std::pair<std::string, GemmLayer*>> gemm_layers(Module& model);

bool has_quantized_layers(Module& model);

// Sets every layer's formats for epoch `epoch` (0-based) of the config's /training/epochs. Throws
// naming the rule whose pattern matches no layer.
void apply_quantization(Module& model, const json& config, int64_t epoch);

// Quantizer state as ("<layer>.<role>.<key>", values), e.g. "layer1.0.conv1.activations.clip_ema".
std::vector<std::pair<std::string, std::vector<float>>> quantizer_state(Module& model);
// Replaces the state of every quantized layer (entries missing for a layer leave it cleared);
// throws naming an entry that belongs to no quantized layer.
void load_quantizer_state(Module& model, const std::vector<std::pair<std::string, std::vector<float>>>& state);

void set_collect_stats(Module& model, bool on);
void set_calibrating(Module& model, bool on);

// For its lifetime, every layer's weights count as frozen (GemmQuantizer::set_weights_frozen): an
// evaluation quantizes and reorders each weight once, not once per batch. Nothing may change the
// weights meanwhile.
class FrozenWeights {
 public:
  explicit FrozenWeights(Module& model);
  ~FrozenWeights();
  FrozenWeights(const FrozenWeights&) = delete;
  FrozenWeights& operator=(const FrozenWeights&) = delete;

 private:
  Module& model_;
};

// {"layers": {layer: {role: {...}}}, "layer_order": [those layers in registration (forward) order],
// "mac_share": {precision: fraction}, "native_gemms": {...}} since the last call (empty when nothing
// was recorded; native_gemms only where a GEMM takes the native lane, see native_gemm_counts);
// clears what it reports.
json take_quantization_diagnostics(Module& model);

// Per layer and GEMM, the lane (fp32, bf16 or int8) and oneDNN implementation of its last call, e.g.
// {"layer1.0.conv1": {"forward": {"lane": "bf16", "impl": "brgconv:avx512_core_bf16"}, ...}}, for
// the manifest. Layers of a model without quantization are not listed.
json gemm_lanes(Module& model);

// For the GEMMs set to take a native lane: their lane and implementation, and the calls since the
// last call of this function in bf16, in int8, in fp32, and kept in fp32 because a product could
// fall below 2^−126 (SPEC §9); resets those counts.
json native_gemm_counts(Module& model);

// The lane each layer's GEMMs are set to take, {"layer1.0.conv1": {"forward": "bf16", ...}}: what
// checkpoints record, since results are bit-exact only within one lane.
json gemm_lane_plan(Module& model);

}  // namespace lpt
