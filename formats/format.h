#pragma once
// A number format as a value: its kind and parameters (one struct per kind, declared next to the
// kind's kernels), parsed from and written back to the JSON syntax configs use, e.g.
//   {"type":"int","bits":4,"granularity":"vector","vector_size":16,"scale_bits":4}
//   {"type":"hbfp","mantissa_bits":3,"block_size":64}   {"type":"lns","bits":8,"gamma":8}
//   {"type":"fp8_e4m3","scale":"tensor","pow2_scale":true}   {"type":"mx","element":"fp4_e2m1"}
//   {"type":"nvfp4"}
// A Tensor carries one through lpt::NumberFormat. What each kind does (JSON, names, kernels) is
// one row of the trait table, formats/format_table.cpp.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>

#include "core/number_format.h"
#include "formats/hbfp.h"
#include "formats/int.h"
#include "formats/lns.h"
#include "formats/minifloat.h"
#include "formats/mx.h"
#include "formats/nvfp4.h"

namespace lpt::formats {

// The kinds, in the trait table's order; a kind's encoded form sits at the same index.
using FormatParams = std::variant<IntParams, HbfpParams, LnsParams, MinifloatParams, MxParams, Nvfp4Params>;
using EncodedData = std::variant<IntEncoded, HbfpEncoded, LnsEncoded, MinifloatEncoded, MxEncoded, Nvfp4Encoded>;

// How a format's scales group and what it clips, for the layers (SPEC §2, §3).
struct ScaleTraits {
  bool channel_groups = false;  // one scale per channel group of the layout (INT per channel, two-level γ, LNS per channel)
  bool clip_values = false;     // per-group clip values that evaluation freezes (INT but fp32-scaled per vector; FP per-tensor scale)
  bool clips_range = false;     // the clip value bounds the represented range, so estimators can tell clipped values apart
  bool warm_started = false;    // OCTAV: each iteration starts from the previous one's clip values
  // Values are fl32(element·s) with elements exact in exact_type() and one fp32 scale s per tensor
  // (a minifloat's fp32 tensor scale): a GEMM runs on the elements and multiplies its output by the
  // operands' s (SPEC §9). quantize reports s as stats.scale[0]; encoded data hold it as the
  // format's one per_tensor array; quantized tensors carry it as their format_scale().
  bool tensor_scale_outside = false;
};

class Format final : public NumberFormat {
 public:
  explicit Format(FormatParams params);  // validates: throws lpt::Error naming the bad parameter

  // From a JSON object, or JSON text. Unknown keys, wrong types and out-of-range values are
  // errors naming the key and what was expected.
  static Format parse(const nlohmann::json& j);
  static Format parse_text(std::string_view json_text);

  nlohmann::json json() const;
  std::string to_json() const override { return json().dump(); }
  // e.g. "int4-pv16-s4", "uint8-pt", "int4-pc-octav", "hbfp4-b64", "lns8-g8", "fp8e4m3", "mxfp4".
  std::string name() const override;
  double bits_per_value() const override;
  // The narrowest hardware type holding every quantized value exactly (SPEC §9): bf16 (with
  // scales().tensor_scale_outside: once the tensor's fp32 scale is factored out); s8 / u8 (8-bit
  // integers times an fp32 scale per group, quantize_int8 gives them); or f32.
  DType exact_type() const;
  // Whether one call's values are a codebook of ≤ 256 values indexed by one-byte codes
  // (quantize_codebook gives them): LNS with ≤ 8 bits per tensor.
  bool has_codebook() const;
  // How its scales group and what it clips (the trait table's ScaleTraits).
  ScaleTraits scales() const;
  // Output channels a weight's block spans besides its run: 16 for NVFP4's 2-D weight blocks, else 1.
  int64_t weight_block_rows() const;

  const FormatParams& params() const { return params_; }
  template <class P>
  const P* get() const {
    return std::get_if<P>(&params_);
  }
  Rounding rounding() const;
  // INT's `signed: "auto"` made concrete (unsigned for ReLU/ReLU6 outputs); other formats as is.
  Format resolved(bool input_nonnegative) const;

  bool operator==(const Format& o) const { return json() == o.json(); }

 private:
  FormatParams params_;
};

}  // namespace lpt::formats
