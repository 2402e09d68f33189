#pragma once
// Builds the optimizers and learning-rate schedules an experiment config describes.
#include <memory>

#include "experiments/schema.h"
#include "layers/module.h"
#include "optimizers/optimizer.h"
#include "optimizers/schedule.h"

namespace lpt {

// Parameters with more than one dimension train with /optimizer under /schedule. Parameters
// with one dimension (biases, BN scale and shift) form a second optimizer from
// /optimizer/params_1d, each key there defaulting to /optimizer's, its schedule to /schedule,
// its weight decay to 0. Madam and LNS-Madam give the 1-D parameters SGD: multiplicative updates
// never move a zero, and biases and BN shifts start at zero (SPEC §5).
struct OptimizerSet {
  std::vector<std::unique_ptr<optim::Optimizer>> optimizers;  // [0]: multi-dimensional, [1]: 1-D (if any)
  std::vector<optim::LrSchedule> schedules;                   // schedules[i] drives optimizers[i]
  // Sets every group's learning rate for iteration t (optimizer steps taken before this one).
  void set_iteration(int64_t t);
  void step();
  void zero_grad();
};

// Schedules count in iterations: step and multistep epochs are multiplied by steps_per_epoch,
// cosine runs over all training iterations after the warm-up.
OptimizerSet make_optimizers(const json& config, const Module& model, int64_t steps_per_epoch);

}  // namespace lpt
