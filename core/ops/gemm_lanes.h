#pragma once
// Which type each of a conv or linear layer's three GEMMs runs in, and what actually ran (SPEC §9).
// layers/ decides from the operands' formats which GEMMs may run in bf16 or int8 and hands the
// forward GEMM's int8 operands over; core converts the (bf16-exact) fp32 operands, runs the native
// primitive, and keeps a GEMM call in fp32 when its products could fall below bf16's normal range
// or oneDNN has only a reference kernel for it.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/bf16.h"
#include "core/error.h"

namespace lpt::onednn {
class WeightPacks;
}

namespace lpt::ops {

enum class Gemm { forward, backward_data, backward_weights };
constexpr int kGemms = 3;
const char* gemm_name(Gemm g);  // "forward", "backward_data", "backward_weights"

// The type a GEMM's operands are in: fp32; bf16 (fp32 accumulation); int8 (s8 / u8, s32
// accumulation, scaled to fp32 per output channel; forward only, as oneDNN 2.6's int8 is).
enum class Lane { fp32, bf16, int8 };
const char* lane_name(Lane l);  // "fp32", "bf16", "int8"

// One GEMM's calls since the last reset.
struct GemmRun {
  std::string impl;                // oneDNN's implementation of the last call, e.g. "brgconv:avx512_core_bf16"
  Lane lane = Lane::fp32;          // the lane of the last call
  int64_t bf16_calls = 0;          // calls that ran in bf16
  int64_t int8_calls = 0;          // calls that ran in int8
  int64_t fp32_calls = 0;          // calls that ran in fp32
  int64_t below_normal_calls = 0;  // bf16 asked, fp32 ran: a product could fall below 2^−126
  std::string no_kernel;           // a native lane asked, fp32 ran: oneDNN's choice was this reference kernel
};
using GemmRuns = std::array<GemmRun, kGemms>;

struct GemmLanes {
  std::array<Lane, kGemms> lane{};  // the lane each GEMM asks for: both of its operands are exact in it
  std::shared_ptr<GemmRuns> runs;   // when set, each call is recorded here
  bool required = false;            // a native GEMM with only a reference kernel is an error, not fp32
  std::string owner;                // the layer, for that error
  // Set while the layer's weights are frozen (an evaluation): its weights in the layouts the
  // primitives take them in, reordered at the first call and reused by the later ones.
  std::shared_ptr<onednn::WeightPacks> packs;

  // Per GEMM: the operand a backward GEMM reads from the forward pass (backward-data's w,
  // backward-weights' x) is bf16-exact, so the pass keeps it as its bf16 copy, half of fp32,
  // whatever lane the GEMM then runs in (an fp32 GEMM reads the copy's exact fp32 values).
  std::array<bool, kGemms> saved_bf16_exact{};

  bool asks(Gemm g, Lane l) const { return lane[size_t(g)] == l; }
  // Whether backward GEMM g keeps its forward-pass operand as a bf16 copy.
  bool keeps_bf16(Gemm g) const { return asks(g, Lane::bf16) || saved_bf16_exact[size_t(g)]; }
  bool any() const { return lane[0] != Lane::fp32 || lane[1] != Lane::fp32 || lane[2] != Lane::fp32; }
  void record(Gemm g, const std::string& impl, Lane ran, bool below_normal) const;
  void record_no_kernel(Gemm g, const std::string& impl) const;
  // Starts (fresh packs) or ends keeping the weights' primitive layouts.
  void freeze_weights(bool on);
};

// A forward GEMM operand's int8 form (SPEC §9): 8-bit integers (q, or q·S_v) whose product with
// one fp32 scale is the operand, the scale per tensor (one) or per index of dimension 0 (a
// weight's output channel; all other dimensions contiguous inside it).
struct Int8Copy {
  Tensor data;  // s8 or u8, same shape and strides as the fp32 operand
  std::vector<float> scales;
};

// The int8 forms of a forward GEMM's two operands: activations per tensor, weights per tensor or
// per output channel.
struct ForwardInt8 {
  Int8Copy x, w;
};

// What the int8 lane's forward primitive does after its s32 sums, as oneDNN post-ops: always a
// multiply by a per-output-channel scale; then optionally a per-output-channel add (the bias, or a
// batch norm folded in evaluation), a ReLU (the batch norm's), the add of a tensor of the output's
// shape (a residual connection) and a last activation. Training uses {scale, bias} only.
enum class Activation { none, relu, relu6 };
struct Int8Epilogue {
  bool shift = false, relu = false, residual = false;
  Activation act = Activation::none;
  // "" for the plain scale; else e.g. " +shift relu +residual relu": part of a primitive's cache key.
  std::string label() const;
};

// The fp32 values fl32(q·scale) of an int8 copy (exactly the format's values), same layout.
Tensor int8_to_f32(const Int8Copy& c);

// An operand's values as one-byte codes into a codebook of at most 256 fp32 values (a format whose
// values in one call come from one, e.g. LNS8 per tensor: ±scale·2^(−k/γ) and zero): a quarter of
// fp32's memory, what a backward pass keeps where the operand has no bf16 or int8 form.
struct CodebookCopy {
  Tensor codes;  // u8, same shape and strides as the fp32 operand
  std::shared_ptr<const std::vector<float>> codebook;
};
// The fp32 values codebook[code], same layout.
Tensor codebook_to_f32(const CodebookCopy& c);

// A GEMM operand: its fp32 values and, once made, their exact bf16 copy; or its int8 form alone
// (the int8 lane's forward operands), or its codebook codes alone (kept for backward), from which
// fp32 values are made when a GEMM needs them.
struct GemmOperand {  // (default member initializers: designated initializers may name one form)
  Tensor f32{};
  std::optional<Bf16Copy> bf16{};
  std::optional<Int8Copy> int8{};
  std::optional<CodebookCopy> codebook{};

  const Bf16Copy& as_bf16() {
    if (!bf16) bf16 = to_bf16_exact(as_f32());
    return *bf16;
  }
  Tensor as_f32() const {
    if (f32.defined()) return f32;
    if (bf16) return bf16_to_f32(bf16->data, bf16->scale);
    return int8 ? int8_to_f32(*int8) : codebook_to_f32(*codebook);
  }
  // Keeps one form for the backward pass, the one its GEMM will read: the bf16 copy; else the int8
  // form or the codebook codes where there is one (a quarter of fp32's memory; values are made
  // from it when read); else the fp32 values.
  void keep(bool as_bf16_copy) {
    if (as_bf16_copy) {
      as_bf16();
      *this = GemmOperand{.bf16 = std::move(bf16)};
    } else if (int8) {
      *this = GemmOperand{.int8 = std::move(int8)};
    } else if (codebook) {
      *this = GemmOperand{.codebook = std::move(codebook)};
    } else {
      *this = GemmOperand{.f32 = as_f32()};
    }
  }
};

// True for oneDNN's reference implementations ("ref:any", ...), which native lanes never use.
bool is_reference_impl(const std::string& impl);

// Per output channel o, scale_a·scale_b[o] (or scale_b[0] per tensor): what the int8 lane
// multiplies each output's integer sum by.
Tensor int8_output_scales(const Int8Copy& a, const Int8Copy& b, int64_t out_channels);

// Runs GEMM g on operands a and b in the lane `lanes` ask for when oneDNN has a JIT kernel for it
// and it is exact on this call (bf16: no product can fall below 2^−126; int8: both operands have
// their int8 form), otherwise in fp32. prims(Lane, a, scaled) gives the cached primitives (with
// their `impl` name; int8 ones depend on a's signedness; `scaled`: the output is multiplied by a
// scale after the GEMM, so a bias must be added after that, not by the primitive).
// run(prims, a, b, scales, out_scale) executes them on tensors of that lane's type: `scales` the
// int8 lane's per-output-channel scales (undefined otherwise), `out_scale` the product of the bf16
// operands' format scales (SPEC §9: factored out of the GEMM), by which run multiplies the output;
// 1 otherwise.
template <class Prims, class Run>
void run_gemm(const GemmLanes* lanes, Gemm g, GemmOperand& a, GemmOperand& b, int64_t out_channels, Prims&& prims,
              Run&& run) {
  bool below_normal = false;
  const Lane asked = lanes ? lanes->lane[size_t(g)] : Lane::fp32;
  if (asked != Lane::fp32 && (asked != Lane::int8 || (a.int8 && b.int8))) {
    const float out_scale = asked == Lane::bf16 ? a.as_bf16().scale * b.as_bf16().scale : 1.0f;
    const auto st = prims(asked, a, out_scale != 1.0f);
    if (is_reference_impl(st->impl)) {
      LPT_CHECK(!lanes->required, "layer '", lanes->owner, "': execution \"native\": oneDNN has only the reference kernel ",
                st->impl, " for its ", lane_name(asked), " ", gemm_name(g), " GEMM");
      lanes->record_no_kernel(g, st->impl);
    } else if (asked == Lane::int8) {
      run(*st, a.int8->data, b.int8->data, int8_output_scales(*a.int8, *b.int8, out_channels), 1.0f);
      lanes->record(g, st->impl, asked, false);
      return;
    } else if (bf16_products_normal(a.as_bf16().min_abs, b.as_bf16().min_abs)) {
      run(*st, a.as_bf16().data, b.as_bf16().data, Tensor(), out_scale);
      lanes->record(g, st->impl, asked, false);
      return;
    } else {
      below_normal = true;
    }
  }
  const auto st = prims(Lane::fp32, a, false);
  run(*st, a.as_f32(), b.as_f32(), Tensor(), 1.0f);
  if (lanes) lanes->record(g, st->impl, Lane::fp32, below_normal);
}
// Empty when oneDNN's effective ISA has bf16 dot products (AVX512-BF16 or AMX), else why not: the
// bf16 lane's speed needs them (below that oneDNN emulates bf16 with fp32 instructions).
std::string why_no_bf16_gemms();
// Empty when oneDNN's effective ISA has int8 dot products with 32-bit sums (VNNI or AMX), else why
// not: without them oneDNN's u8×s8 path adds pairs of products in 16 bits (vpmaddubsw), which can
// saturate, and halves the weights to avoid it, so the result is no longer exact.
std::string why_no_int8_gemms();

}  // namespace lpt::ops
