#pragma once
// Madam (Bernstein et al. 2020), the multiplicative update of SPEC §5, in fp32:
//   v ← β·v + (1−β)·g²,  v̂ = v / (1 − β^t),  ĝ = clamp(g / √v̂, ±g_bound) (NaN → 0),
//   w ← w·exp(−η·sign(w)·ĝ),  w ← clamp(w, ±bound),  bound = p_scale · RMS(w) at the first step.
// The update never changes a weight's sign and never moves a zero, so parameters that start at
// zero (biases, BN shift) belong in an SGD/Adam optimizer.
#include "optimizers/optimizer.h"

namespace lpt::optim {

struct MadamOptions {
  double lr = 0.01;      // η, the group's base lr (schedules scale from it)
  double p_scale = 3;    // bound = p_scale · RMS of the tensor at its first step
  double g_bound = 10;   // |ĝ| clamp
  double beta = 0.999;   // second-moment decay, in [0, 1)
};

class Madam : public Optimizer {
 public:
  Madam(std::vector<Variable> params, const MadamOptions& options);
  explicit Madam(std::vector<ParamGroup<MadamOptions>> groups);

  const char* name() const override { return "Madam"; }
  const MadamOptions& options(size_t group) const { return options_.at(group); }

 protected:
  void update(size_t group, const Variable& param, const Tensor& grad, ParamState& state) override;
  // "exp_avg_sq" (like the parameter) and "bound" (one value).
  std::vector<StateSlot> state_layout(size_t group, const Variable& param) const override;
  bool counts_steps() const override { return true; }

 private:
  std::vector<MadamOptions> options_;
};

}  // namespace lpt::optim
