#pragma once
// The quantizers of one conv or linear layer: a RoleQuantizer per operand of its three GEMMs
// (SPEC §2), the forward operands wrapped in their gradient estimators, the backward GEMMs'
// operands each blocked along its own reduction axis, and the multiply-adds counted per precision.
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/autograd.h"
#include "core/ops/backward_operands.h"
#include "core/ops/gemm_lanes.h"
#include "layers/quant/gemm_formats.h"
#include "layers/quant/gemm_layouts.h"
#include "layers/quant/role_quantizer.h"

namespace lpt {

class GemmQuantizer {
 public:
  // `layer` is the layer's full name; `input_nonnegative` says its input is a ReLU/ReLU6 output.
  GemmQuantizer(std::string layer, bool input_nonnegative);

  // Decides each GEMM's lane (SPEC §9): the forward GEMM in int8 where both operands have an exact
  // int8 form (s8 weights), else in bf16 where both are bf16-exact; the backward GEMMs in bf16
  // where both are bf16-exact; fp32 elsewhere, and always under `emulated`. Throws naming the
  // layer, the GEMM and the reason when f.execution is native and a GEMM cannot run natively (an
  // operand not exact in the lane's type, or this CPU lacks the lane's instructions).
  void set_formats(const GemmFormats& f);
  const GemmFormats& formats() const { return formats_; }
  bool active() const { return formats_.any(); }

  void begin_step(uint64_t seed, uint64_t step) { seed_ = seed, step_ = step; }
  void set_calibrating(bool on) { calibrating_ = on; }
  // While on, the caller promises that the weights do not change (an evaluation): evaluation's
  // quantization of the weights and their primitive layouts are made at the first forward and
  // reused by the later ones. Off drops them.
  void set_weights_frozen(bool on);
  // The next forward (and its backward) record diagnostics of every role.
  void set_collect_stats(bool on) { collect_ = on; }

  // The operands of a forward pass: x and w as the GEMM consumes them (quantized where a format is
  // set, with their estimators and the weight-gradient format in backward), and what the backward
  // GEMMs consume. x must be channels-last (conv) or row-major (linear), w contiguous.
  struct Operands {
    Variable x, w;
    ops::BackwardOperands backward;
    ops::GemmLanes lanes;  // which GEMMs run natively; calls are recorded for gemm_runs()
    std::optional<ops::ForwardInt8> int8;  // the forward GEMM's int8 operands when it takes the int8 lane
  };
  Operands prepare(const Variable& x, const Variable& w, const GemmGeometry& g, bool training);

  // The weights as evaluation quantizes them (frozen clip values), encoded for export with the
  // forward GEMM's blocking (SPEC §7): along C_in (axis 1) of OIHW / [out, in] weights, channel
  // groups on axis 0. Depthwise weights ([O, 1, KH, KW]) are encoded as [O, KH·KW] along kh·kw.
  // decode() of the result is bit for bit the weight operand prepare() gives in evaluation.
  formats::Encoded encode_weights(const Tensor& w, const GemmGeometry& g) const;
  // A weight gradient dw (the weight's shape) encoded in the weight_gradients format with the same
  // blocking, the one the backward pass quantizes dw with: decode() gives a quantized dw back exactly
  // (data-parallel gradients travel so).
  formats::Encoded encode_weight_gradient(const Tensor& dw, const GemmGeometry& g) const;

  // Weights loaded from an export (encode_weights' codes): evaluation uses exactly these from now on.
  void freeze_weights(const formats::Encoded& e) { weights_.freeze(e); }

  // The lanes of this layer's GEMMs as set_formats() decided them, recording calls; layers without
  // formats (fp32 throughout) pass them too, so that every GEMM's implementation is on record.
  const ops::GemmLanes& lanes() const { return lanes_; }
  // Per GEMM ("forward", "backward_data", "backward_weights"): the lane and oneDNN implementation
  // of its last call, and (with counts) the calls in bf16, in int8, in fp32, and kept in fp32
  // because a product could fall below 2^−126 since the last reset_gemm_counts(). `native_only`:
  // only the GEMMs set to take a native lane.
  nlohmann::json gemm_runs(bool counts, bool native_only) const;
  void reset_gemm_counts();

  // Counts one training step's three GEMMs (prepare() does so for training steps; layers without
  // formats call it themselves so that shares cover the whole model).
  void count_macs(const GemmGeometry& g);
  // Multiply-adds since the last reset, per GEMM (ops::Gemm order) and precision ("hbfp4-b64",
  // "int4-pc×uint4-pt", "fp32": its two operands' formats).
  const std::array<std::map<std::string, double>, ops::kGemms>& macs() const { return macs_; }
  void reset_macs() { macs_ = {}; }

  // In a data-parallel step (layers/batch_shards.h) the backward pass leaves the weight gradient in
  // fp32 and the quantization a weight_gradients format asks for waits here: the trainer applies it
  // to the gradient it chooses — the global one after the all-reduce, as one process quantizes it.
  // Null when nothing waits.
  const std::function<Tensor(const Tensor&)>& pending_weight_gradient() const { return pending_dw_; }
  // Quantizes dw (the weight's gradient, dense) with the waiting quantization, which it consumes.
  Tensor quantize_pending_weight_gradient(const Tensor& dw);

  // Quantizer state, keys "<role>.<key>" (e.g. "activations.clip_ema"), for checkpoints.
  std::vector<std::pair<std::string, std::vector<float>>> state() const;
  void load_state(const std::string& key, std::vector<float> values);  // throws naming the key
  void clear_state();

  // The last recorded diagnostics, {role: {sqnr_db, clipped_fraction, flushed_fraction, clip_mean,
  // scale_min/mean/max, vector_scale_min/mean/max, octav_s_mean, format}}; clears them.
  nlohmann::json take_diagnostics();

  const std::string& layer() const { return layer_; }

 private:
  std::vector<RoleQuantizer*> roles();
  // x, shaped as the weight, encoded by `role` along the forward weight blocking.
  // The random Hadamard transform of the backward-weights GEMM's operands at this step, or null
  // when it is off.
  std::function<Tensor(const Tensor&)> hadamard_rotation(const GemmGeometry& g) const;
  formats::Encoded encode_weight_shaped(const RoleQuantizer& role, const Tensor& x, const GemmGeometry& g,
                                        ClipMode m) const;
  ClipMode mode(bool training) const;
  // The two operand roles of each GEMM, in Gemm order.
  std::array<std::pair<const RoleQuantizer*, const RoleQuantizer*>, ops::kGemms> gemm_operands() const;
  void plan_lanes();

  std::string layer_;
  GemmFormats formats_;
  // Forward operands, both backward GEMMs' errors, weight gradients, and (requantize_backward) the
  // re-quantized w of backward-data and x of backward-weights.
  RoleQuantizer weights_, activations_, errors_data_, errors_weights_, weight_gradients_, weights_data_,
      activations_weights_;
  uint64_t seed_ = 0, step_ = 0;
  bool calibrating_ = false, collect_ = false, weights_frozen_ = false;
  std::optional<QuantizedTensor> frozen_weights_;  // evaluation's quantization of the frozen weights
  std::function<Tensor(const Tensor&)> pending_dw_;
  std::array<std::map<std::string, double>, ops::kGemms> macs_;
  ops::GemmLanes lanes_;
};

}  // namespace lpt
