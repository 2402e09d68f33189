#pragma once
// Adam and AdamW (optionally AMSGrad), computing exactly what PyTorch 1.13's torch.optim.Adam and
// torch.optim.AdamW (foreach=False, capturable=False) compute on CPU, bit for bit.
#include "optimizers/optimizer.h"

namespace lpt::optim {

struct AdamOptions {
  double lr = 1e-3;         // the group's base lr (schedules scale from it)
  double beta1 = 0.9;       // in [0, 1)
  double beta2 = 0.999;     // in [0, 1)
  double eps = 1e-8;        // >= 0
  double weight_decay = 0;  // >= 0; Adam adds wd·p to the gradient, AdamW decays p ← p·(1 − lr·wd).
                            // (PyTorch's AdamW defaults to 1e-2: set it explicitly.)
  bool amsgrad = false;     // normalise by the running maximum of the second moment
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Variable> params, const AdamOptions& options);
  explicit Adam(std::vector<ParamGroup<AdamOptions>> groups);

  const char* name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  const AdamOptions& options(size_t group) const { return options_.at(group); }

 protected:
  Adam(std::vector<ParamGroup<AdamOptions>> groups, bool decoupled_weight_decay);
  void update(size_t group, const Variable& param, const Tensor& grad, ParamState& state) override;
  // "exp_avg", "exp_avg_sq" and, with AMSGrad, "max_exp_avg_sq".
  std::vector<StateSlot> state_layout(size_t group, const Variable& param) const override;
  bool counts_steps() const override { return true; }

 private:
  bool decoupled_;
  std::vector<AdamOptions> options_;
};

// Adam with decoupled weight decay (Loshchilov & Hutter): p ← p·(1 − lr·wd) before the Adam step.
class AdamW : public Adam {
 public:
  AdamW(std::vector<Variable> params, const AdamOptions& options);
  explicit AdamW(std::vector<ParamGroup<AdamOptions>> groups);
};

}  // namespace lpt::optim
