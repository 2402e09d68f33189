#pragma once
// LNS-Madam (SPEC §5): Madam's multiplicative update on weights held in a logarithmic number
// system, so the update is an integer step on the weight's code.
//
// Per element, with Madam's normalised gradient (optimizers/madam.h):
//   v ← β·v + (1−β)·g²,  v̂ = v / (1 − β^t),  ĝ = clamp(g / √v̂, ±g_bound) (NaN → 0),  r = RNE(ĝ).
// The master weights are LNS with base factor γ_U = 1/base_lr (base_lr: the group's configured
// lr, 1/128 → γ_U = 128) and scale = bound = p_scale · RMS of the tensor at its first step:
//   |w| = bound · 2^(−k/γ_U),  k integer in [0, kmax = 2^master_bits − 1].
// The update w ← w·2^(−lr·sign(w)·r) is the integer step
//   k ← clamp(k + sign(w)·RNE((lr/base_lr)·r), 0, kmax)
// (ties to even; k saturates at both ends, and k = 0 is |w| = bound), which with a constant lr
// is exactly SPEC's k + sign(w)·r, and with a scheduled lr keeps the weights on the same grid.
// After every update the parameter's data (the working copy the GEMMs read) is rewritten from
// the master as fl32(sign · bound · 2^(−k/γ_U)), computed in double and rounded once, so it is
// exactly on the master grid. Codes past fp32's range (k ≳ 128·(149 + log2 bound) for γ_U = 128)
// give ±0 or subnormal working values; the master keeps them and they can come back.
//
// The master copy starts, at a parameter's first update, as the grid quantisation of its fp32
// data: k = clamp(RNE(−γ_U·log2(|w|/bound)), 0, kmax) in double (|w| > bound gets k = 0).
// The sign never changes and zeros stay zero (exactly ±0, keeping their sign bit), so
// parameters that start at zero (biases, BN shift) belong in an SGD/Adam optimizer.
#include <vector>

#include "optimizers/optimizer.h"

namespace lpt::optim {

struct LnsMadamOptions {
  double lr = 1.0 / 128;  // η, the group's base lr: γ_U = 1/lr (must be > 0); schedules scale from it
  double p_scale = 3;     // bound = p_scale · RMS of the tensor at its first step
  double g_bound = 10;    // |ĝ| clamp before rounding: r in [−10, 10]
  double beta = 0.999;    // second-moment decay, in [0, 1)
  int master_bits = 16;   // k in [0, 2^master_bits − 1], 1..16
};

class LnsMadam : public Optimizer {
 public:
  LnsMadam(std::vector<Variable> params, const LnsMadamOptions& options);
  explicit LnsMadam(std::vector<ParamGroup<LnsMadamOptions>> groups);

  const char* name() const override { return "LNS-Madam"; }
  const LnsMadamOptions& options(size_t group) const { return options_.at(group); }

 protected:
  void update(size_t group, const Variable& param, const Tensor& grad, ParamState& state) override;
  // "exp_avg_sq" (f32, like the parameter), "bound" (f32, one value) and "master_code" (s32, like
  // the parameter): sign(w)·(k + 1), so |code| − 1 = k, and 0 for a zero weight.
  std::vector<StateSlot> state_layout(size_t group, const Variable& param) const override;
  bool counts_steps() const override { return true; }

 private:
  struct Grid {
    double gamma;             // γ_U = 1/base_lr
    int32_t kmax;             // 2^master_bits − 1
    std::vector<double> pow;  // pow[k] = 2^(−k/γ_U), k in [0, kmax]
  };
  std::vector<LnsMadamOptions> options_;
  std::vector<Grid> grids_;  // per group
};

}  // namespace lpt::optim
