#pragma once
// One training step exactly as `lpt train` runs it — learning rates from the schedule, the step's
// randomness keys (dropout, stochastic rounding), forward, cross-entropy, backward, the NaN/Inf
// check, the optimizer update — shared by the trainer, the training benchmark and the tests.
#include <cstdint>

#include "experiments/optimizer_setup.h"
#include "layers/module.h"

namespace lpt {

struct StepResult {
  float loss = 0;       // the batch-mean loss
  int64_t correct = 0;  // correctly classified images of the batch
};

// Throws lpt::Error naming the step (and the tensor) when the loss or a gradient is NaN or Inf,
// before the optimizer has touched the weights.
StepResult train_step(Module& model, OptimizerSet& optimizers, const Tensor& images, const Tensor& labels,
                      uint64_t seed, int64_t step, float label_smoothing);

}  // namespace lpt
