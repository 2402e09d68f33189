#pragma once
// SGD with momentum, dampening, Nesterov momentum and (coupled) weight decay, computing exactly
// what PyTorch 1.13's torch.optim.SGD (foreach=False) computes on CPU, bit for bit.
#include "optimizers/optimizer.h"

namespace lpt::optim {

struct SgdOptions {
  double lr = 0.1;          // the group's base lr (schedules scale from it)
  double momentum = 0;      // in [0, 1)
  double dampening = 0;     // in [0, 1]
  double weight_decay = 0;  // >= 0, added to the gradient: g + wd·p
  bool nesterov = false;    // needs momentum > 0 and dampening = 0
};

class Sgd : public Optimizer {
 public:
  Sgd(std::vector<Variable> params, const SgdOptions& options);
  explicit Sgd(std::vector<ParamGroup<SgdOptions>> groups);

  const char* name() const override { return "SGD"; }
  const SgdOptions& options(size_t group) const { return options_.at(group); }

 protected:
  void update(size_t group, const Variable& param, const Tensor& grad, ParamState& state) override;
  // "momentum_buffer" when the group has momentum.
  std::vector<StateSlot> state_layout(size_t group, const Variable& param) const override;
  bool counts_steps() const override { return false; }

 private:
  std::vector<SgdOptions> options_;
};

}  // namespace lpt::optim
