#pragma once
// The quantizer of one operand role of one layer's GEMMs ("layer3.0.conv1" / "activations"), with
// the state that evolves over training and goes into checkpoints (SPEC §2, §3):
//   octav_s     OCTAV's clip values of the previous iteration (its warm start), per group;
//   clip_ema    activations and errors: the moving average (momentum 0.9) of the training-time
//               clip values, frozen at evaluation (QAT);
//   calibrated  the maximum over calibration batches of the per-batch clip value (PTQ).
// "Clip values" are INT's per-group amax (the clip of per-tensor / per-channel scales, the group
// maximum behind two-level γ) and the amax behind a minifloat's per-tensor scale. Per-vector and
// MX block scales inside them are always computed per vector / block.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/ops/gemm_lanes.h"
#include "core/tensor.h"
#include "formats/encode.h"
#include "formats/quantize.h"

namespace lpt {

// How a role chooses its clip values on this call.
enum class ClipMode {
  train,      // from the data (clipping method, OCTAV warm-started); updates the moving average
  calibrate,  // from the data; keeps the maximum over calls (PTQ)
  evaluate,   // frozen: calibrated, else the moving average, else (nothing recorded yet) from the data
};

struct QuantizedTensor {
  Tensor value;             // fake-quantized, same layout as the input, carrying the format
  std::vector<float> clip;  // the estimator's clip value per group; empty: nothing is clipped (STE)
  std::optional<ops::Int8Copy> int8;  // asked for: the value's int8 form, scales per group of the layout
  std::optional<ops::CodebookCopy> codebook;  // asked for: the value's one-byte codes and their codebook
};

class RoleQuantizer {
 public:
  // `name` ("layer1.0.conv1.activations") names the tensor in errors and keys stochastic rounding;
  // `input_nonnegative` resolves INT's signed: "auto"; `averaged`: the tensor follows the batch
  // (activations, errors): keep clip_ema, and quantize as a shard of the batch under set_batch_shards (layers/batch_shards.h).
  RoleQuantizer(std::string name, bool input_nonnegative, bool averaged);

  // Null: fp32 (apply() is not called). Changing the format keeps the recorded state (but not
  // frozen codes of another format).
  void set_format(std::shared_ptr<const formats::Format> f);

  // From now on apply() gives these codes' values (and int8 form), whatever the contiguous tensor
  // it is given holds: weights loaded from an export evaluate exactly as they were encoded, in
  // every lane. The codes must be in this role's format.
  void freeze(const formats::Encoded& e);
  const std::shared_ptr<const formats::Format>& format() const { return format_; }
  explicit operator bool() const { return format_ != nullptr; }

  // Quantizes a dense tensor laid out as `l`; stochastic rounding keyed by (seed, step, this role).
  // With `collect`, the diagnostics (SQNR, clipped and flushed fractions, scales) are kept. With
  // `int8` (a format whose exact_type() is s8 or u8), the value's int8 form as well (SPEC §9), and
  // without `values` only that (the value stays undefined). With `codebook` (a format with
  // has_codebook()), the value's codes and codebook as well.
  QuantizedTensor apply(const Tensor& x, const formats::BufferLayout& l, ClipMode mode, uint64_t seed, uint64_t step,
                        bool collect, bool int8 = false, bool values = true, bool codebook = false);

  // The codes and scales of what apply() gives for a row-major tensor with runs along `axis`,
  // channel groups along `channel_axis` and 2-D blocks of `block_rows` (BufferLayout::block_rows),
  // in `mode` (export: evaluate); decode() of the result equals apply()'s value bit for bit. Does
  // not change the recorded state.
  formats::Encoded encode(const Tensor& x, int axis, std::optional<int> channel_axis, int64_t block_rows,
                          ClipMode mode, uint64_t seed, uint64_t step) const;

  const std::optional<formats::QuantizeStats>& last_stats() const { return stats_; }
  void clear_stats() { stats_.reset(); }

  // Recorded state as (key, values), keys "octav_s", "clip_ema", "calibrated"; empty ones omitted.
  std::vector<std::pair<std::string, std::vector<float>>> state() const;
  // Throws naming the role on an unknown key.
  void load_state(const std::string& key, std::vector<float> values);
  void clear_state();
  const std::string& name() const { return name_; }

 private:
  // The options of one call: name, rounding key, and the frozen clip values or OCTAV's warm start.
  formats::QuantizeOptions options(const Tensor& x, int64_t groups, ClipMode mode, uint64_t seed,
                                   uint64_t step) const;

  std::string name_;
  uint64_t id_;
  bool input_nonnegative_, averaged_;
  std::shared_ptr<const formats::Format> format_;  // signed: "auto" resolved
  std::vector<float> octav_s_, clip_ema_, calibrated_;
  std::optional<formats::QuantizeStats> stats_;
  Tensor frozen_;                             // decoded frozen codes, row-major; undefined: none
  std::optional<ops::Int8Copy> frozen_int8_;  // their int8 form, where the format has one
};

}  // namespace lpt
