#pragma once
// Learning-rate schedules as pure functions of the iteration counter (the number of optimizer
// steps taken before this one), so resuming needs only the step. The formulas are the closed
// forms of PyTorch 1.13's schedulers, counted in iterations:
//   constant   lr = base
//   step       lr = base · γ^⌊t / step_size⌋                        (StepLR)
//   multistep  lr = base · γ^(number of milestones ≤ t)              (MultiStepLR)
//   cosine     lr = η_min + (base − η_min)·(1 + cos(π·t / T_max))/2  (CosineAnnealingLR)
// with_warmup(W, s) puts a linear warm-up in front: lr = base·(s + (1 − s)·t/W) for t < W, then
// the schedule runs from its own iteration t − W (PyTorch's SequentialLR of LinearLR and the
// schedule with milestone W), so T_max and milestones count from the end of the warm-up.
#include <cstdint>
#include <vector>

namespace lpt::optim {

class Optimizer;

class LrSchedule {
 public:
  static LrSchedule constant();
  static LrSchedule step(int64_t step_size, double gamma);
  static LrSchedule multistep(std::vector<int64_t> milestones, double gamma);
  static LrSchedule cosine(int64_t t_max, double eta_min = 0);
  LrSchedule with_warmup(int64_t warmup_iterations, double start_factor) const;

  // The lr of a group configured with base_lr, at iteration t >= 0.
  double lr(int64_t t, double base_lr) const;
  // Sets every group's lr for iteration t from the group's base lr.
  void apply(Optimizer& optimizer, int64_t t) const;

 private:
  enum class Kind { constant, step, multistep, cosine };
  explicit LrSchedule(Kind kind) : kind_(kind) {}

  Kind kind_;
  int64_t period_ = 0;  // step: step_size; cosine: T_max
  double gamma_ = 1;
  double eta_min_ = 0;
  std::vector<int64_t> milestones_;
  int64_t warmup_ = 0;
  double warmup_start_ = 1;
};

}  // namespace lpt::optim
