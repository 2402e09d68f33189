#pragma once
// LNS-Madam (SPEC §5): Madam's multiplicative update rounded to integer steps in the log domain.
//
// Per element, with Madam's normalised gradient (optimizers/madam.h):
//   v ← β·v + (1−β)·g²,  v̂ = v / (1 − β^t),  ĝ = clamp(g / √v̂, ±g_bound) (NaN → 0),  r = RNE(ĝ),
// and the update w ← w·2^(−η_t·sign(w)·r), η_t the scheduled learning rate. bound = p_scale · RMS
// of the tensor at its first step. Master weights, one of:
//  - fp32 (the reference implementation): the factor 2^(−η_t·sign(w)·r) in double, the product
//    rounded once to fp32, then w clamped to ±bound. A decaying η_t anneals the step.
//  - lns16: LNS codes with base factor γ_U (master_gamma, a power of two with γ_U·η₀ ≥ 1) and
//    scale = bound: |w| = bound·2^(−k/γ_U), k in [0, 2^15 − 1]. The step on the code is
//    Δk = ρ(γ_U·η_t·r), ρ round-to-nearest-even or stochastic (update_rounding), and
//    k ← clamp(k + sign(w)·Δk, 0, 2^15 − 1), so the clamp to ±bound (k = 0) lands on the grid.
//    With γ_U·η₀ an integer the step at η₀ is exact; as η_t decays it shrinks in units of
//    1/γ_U octave, so a cosine schedule anneals instead of freezing weights.
//    After every update the parameter's data (the working copy the GEMMs read, through their
//    own 8-bit LNS weight quantizer) is fl32(sign · bound · 2^(−k/γ_U)), computed in double and
//    rounded once: exactly on the master grid. The master copy starts, at a parameter's first
//    update, as the grid quantisation of its fp32 data: k = clamp(RNE(−γ_U·log2(|w|/bound))).
// Stochastic rounding draws u from Philox keyed by (seed, step, parameter name), counter = the
// element index: independent of thread count and reproducible on resume.
// The sign never changes and zeros stay zero (exactly ±0, keeping their sign bit), so
// parameters that start at zero (biases, BN shift) belong in an SGD/Adam optimizer. There is no
// weight decay (the reference's default).
#include <cstdint>
#include <vector>

#include "optimizers/optimizer.h"

namespace lpt::optim {

enum class MasterWeights { fp32, lns16 };
enum class UpdateRounding { nearest, stochastic };

struct LnsMadamOptions {
  double lr = 1.0 / 128;  // η₀, the group's base lr; schedules scale from it
  double p_scale = 3;     // bound = p_scale · RMS of the tensor at its first step
  double g_bound = 10;    // |ĝ| clamp before rounding: r in [−10, 10]
  double beta = 0.999;    // second-moment decay, in [0, 1)
  MasterWeights master = MasterWeights::lns16;
  int master_gamma = 2048;                            // lns16: γ_U, a power of two with γ_U·lr ≥ 1
  UpdateRounding update_rounding = UpdateRounding::nearest;  // lns16: ρ
  uint64_t seed = 0;                                  // stochastic update rounding's key
};

// k's range in lns16 master weights: 15 bits beside the sign.
inline constexpr int32_t kLnsMasterKmax = (1 << 15) - 1;

class LnsMadam : public Optimizer {
 public:
  LnsMadam(std::vector<Variable> params, const LnsMadamOptions& options);
  explicit LnsMadam(std::vector<ParamGroup<LnsMadamOptions>> groups);

  const char* name() const override { return "LNS-Madam"; }
  const LnsMadamOptions& options(size_t group) const { return options_.at(group); }

 protected:
  void update(size_t group, const Variable& param, const Tensor& grad, ParamState& state) override;
  // "exp_avg_sq" (f32, like the parameter) and "bound" (f32, one value); lns16 adds
  // "master_gamma" (f32, one value: the grid the codes are on, checked on resume) and
  // "master_code" (s32, like the parameter): sign(w)·(k + 1), so |code| − 1 = k, 0 for a zero weight.
  std::vector<StateSlot> state_layout(size_t group, const Variable& param) const override;
  bool counts_steps() const override { return true; }

 private:
  std::vector<LnsMadamOptions> options_;
  std::vector<std::vector<double>> pow_;  // per lns16 group: pow[k] = 2^(−k/γ_U), k in [0, kmax]
};

}  // namespace lpt::optim
