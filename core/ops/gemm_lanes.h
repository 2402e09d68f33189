#pragma once
// Which type each of a conv or linear layer's three GEMMs runs in, and what actually ran (SPEC §9).
// layers/ decides from the operands' formats which GEMMs may run in bf16; core converts the
// (bf16-exact) fp32 operands, runs the bf16 primitive, and keeps a GEMM call in fp32 when its
// products could fall below bf16's normal range or oneDNN has only a reference kernel for it.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/bf16.h"
#include "core/error.h"

namespace lpt::ops {

enum class Gemm { forward, backward_data, backward_weights };
constexpr int kGemms = 3;
const char* gemm_name(Gemm g);  // "forward", "backward_data", "backward_weights"

// One GEMM's calls since the last reset.
struct GemmRun {
  std::string impl;              // oneDNN's implementation of the last call, e.g. "brgconv:avx512_core_bf16"
  bool bf16 = false;             // the last call ran in bf16
  int64_t bf16_calls = 0;        // calls that ran in bf16
  int64_t fp32_calls = 0;        // calls that ran in fp32
  int64_t below_normal_calls = 0;  // bf16 asked, fp32 ran: a product could fall below 2^−126
  std::string no_kernel;         // bf16 asked, fp32 ran: oneDNN's bf16 choice was this reference kernel
};
using GemmRuns = std::array<GemmRun, kGemms>;

struct GemmLanes {
  std::array<bool, kGemms> bf16{};  // run this GEMM in bf16: both of its operands are bf16-exact
  std::shared_ptr<GemmRuns> runs;   // when set, each call is recorded here
  bool required = false;            // a bf16 GEMM with only a reference kernel is an error, not fp32
  std::string owner;                // the layer, for that error

  bool any() const { return bf16[0] || bf16[1] || bf16[2]; }
  void record(Gemm g, const std::string& impl, bool ran_bf16, bool below_normal) const;
  void record_no_kernel(Gemm g, const std::string& impl) const;
};

// A GEMM operand: its fp32 values and, once made, their exact bf16 copy. The backward pass keeps
// one of the two (keep()), the one its GEMM will read.
struct GemmOperand {
  Tensor f32;
  std::optional<Bf16Copy> bf16;

  const Bf16Copy& as_bf16() {
    if (!bf16) bf16 = to_bf16_exact(f32);
    return *bf16;
  }
  Tensor as_f32() const { return f32.defined() ? f32 : bf16_to_f32(bf16->data); }
  void keep(bool as_bf16_copy) {
    if (as_bf16_copy) {
      as_bf16();
      f32 = Tensor();
    } else {
      f32 = as_f32();
      bf16.reset();
    }
  }
};

// True for oneDNN's reference implementations ("ref:any", ...), which the bf16 lane never uses.
bool is_reference_impl(const std::string& impl);

// Runs GEMM g on operands a and b: in bf16 when `lanes` ask for it, oneDNN has a JIT kernel for it
// and no product can fall below 2^−126; otherwise in fp32. prims(bool bf16) gives the cached
// primitives (with their `impl` name); run(prims, a, b) executes them on tensors of that type.
template <class Prims, class Run>
void run_gemm(const GemmLanes* lanes, Gemm g, GemmOperand& a, GemmOperand& b, Prims&& prims, Run&& run) {
  bool below_normal = false;
  if (lanes && lanes->bf16[int(g)]) {
    const auto st = prims(true);
    if (is_reference_impl(st->impl)) {
      LPT_CHECK(!lanes->required, "layer '", lanes->owner, "': execution \"native\": oneDNN has only the reference kernel ",
                st->impl, " for its bf16 ", gemm_name(g), " GEMM");
      lanes->record_no_kernel(g, st->impl);
    } else if (bf16_products_normal(a.as_bf16().min_abs, b.as_bf16().min_abs)) {
      run(*st, a.as_bf16().data, b.as_bf16().data);
      lanes->record(g, st->impl, true, false);
      return;
    } else {
      below_normal = true;
    }
  }
  const auto st = prims(false);
  run(*st, a.as_f32(), b.as_f32());
  if (lanes) lanes->record(g, st->impl, false, below_normal);
}
// Empty when oneDNN's effective ISA has bf16 dot products (AVX512-BF16 or AMX), else why not: the
// bf16 lane's speed needs them (below that oneDNN emulates bf16 with fp32 instructions).
std::string why_no_bf16_gemms();

}  // namespace lpt::ops
