#include "optimizers/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"
#include "optimizers/optimizer.h"

namespace lpt::optim {

LrSchedule LrSchedule::constant() { return LrSchedule(Kind::constant); }

LrSchedule LrSchedule::step(int64_t step_size, double gamma) {
  LPT_CHECK(step_size > 0, "step schedule: step_size ", step_size, ", expected > 0 iterations");
  LPT_CHECK(std::isfinite(gamma) && gamma > 0, "step schedule: gamma ", gamma, ", expected a finite value > 0");
  LrSchedule s(Kind::step);
  s.period_ = step_size;
  s.gamma_ = gamma;
  return s;
}

LrSchedule LrSchedule::multistep(std::vector<int64_t> milestones, double gamma) {
  LPT_CHECK(std::isfinite(gamma) && gamma > 0, "multistep schedule: gamma ", gamma, ", expected a finite value > 0");
  for (size_t i = 0; i < milestones.size(); ++i)
    LPT_CHECK(milestones[i] > 0 && (i == 0 || milestones[i] > milestones[i - 1]), "multistep schedule: milestone ",
              i, " is ", milestones[i], ", expected positive iterations in increasing order");
  LrSchedule s(Kind::multistep);
  s.milestones_ = std::move(milestones);
  s.gamma_ = gamma;
  return s;
}

LrSchedule LrSchedule::cosine(int64_t t_max, double eta_min) {
  LPT_CHECK(t_max > 0, "cosine schedule: T_max ", t_max, ", expected > 0 iterations");
  LPT_CHECK(std::isfinite(eta_min) && eta_min >= 0, "cosine schedule: eta_min ", eta_min,
            ", expected a finite value >= 0");
  LrSchedule s(Kind::cosine);
  s.period_ = t_max;
  s.eta_min_ = eta_min;
  return s;
}

LrSchedule LrSchedule::with_warmup(int64_t warmup_iterations, double start_factor) const {
  LPT_CHECK(warmup_iterations > 0, "warm-up: ", warmup_iterations, " iterations, expected > 0");
  LPT_CHECK(start_factor > 0 && start_factor <= 1, "warm-up: start factor ", start_factor,
            ", expected a value in (0, 1]");
  LPT_CHECK(warmup_ == 0, "warm-up: the schedule already has one");
  LrSchedule s = *this;
  s.warmup_ = warmup_iterations;
  s.warmup_start_ = start_factor;
  return s;
}

// Operation order as in PyTorch's _get_closed_form_lr (Python doubles).
double LrSchedule::lr(int64_t t, double base_lr) const {
  LPT_CHECK(t >= 0, "lr schedule: iteration ", t, ", expected >= 0");
  if (t < warmup_)  // LinearLR: base · (start + (end − start)·t/W), end = 1
    return base_lr * (warmup_start_ + (1.0 - warmup_start_) * double(t) / double(warmup_));
  t -= warmup_;
  switch (kind_) {
    case Kind::constant:
      return base_lr;
    case Kind::step:
      return base_lr * std::pow(gamma_, double(t / period_));
    case Kind::multistep: {
      const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), t) - milestones_.begin();
      return base_lr * std::pow(gamma_, double(passed));
    }
    case Kind::cosine:
      return eta_min_ + (base_lr - eta_min_) * (1 + std::cos(std::numbers::pi * double(t) / double(period_))) / 2;
  }
  return base_lr;
}

void LrSchedule::apply(Optimizer& optimizer, int64_t t) const {
  for (size_t g = 0; g < optimizer.num_groups(); ++g) optimizer.set_lr(g, lr(t, optimizer.base_lr(g)));
}

}  // namespace lpt::optim
