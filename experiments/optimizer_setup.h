#pragma once
// Builds the optimizer and learning-rate schedule an experiment config describes.
#include <memory>

#include "experiments/schema.h"
#include "layers/module.h"
#include "optimizers/optimizer.h"
#include "optimizers/schedule.h"

namespace lpt {

// /optimizer: parameters with one dimension (biases, BN scale and shift) form a group without
// weight decay unless decay_1d is set. Madam trains multi-dimensional weights; the 1-D
// parameters, which start at zero or one and must be able to change sign, use SGD with the same
// learning rate schedule (SPEC §5).
struct OptimizerSet {
  std::vector<std::unique_ptr<optim::Optimizer>> optimizers;
  void step();
  void zero_grad();
};
OptimizerSet make_optimizers(const json& config, const Module& model);

// /schedule, in iterations: step and multistep epochs are multiplied by steps_per_epoch, cosine
// runs over all training iterations after the warm-up.
optim::LrSchedule make_schedule(const json& config, int64_t steps_per_epoch);

}  // namespace lpt
