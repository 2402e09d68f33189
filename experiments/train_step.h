#pragma once
// One training step exactly as `lpt train` runs it — learning rates from the schedule, the step's
// randomness keys (dropout, stochastic rounding), forward, cross-entropy, backward, the NaN/Inf
// check, the optimizer update — shared by the trainer, the training benchmark and the tests.
#include <cstdint>
#include <functional>

#include "experiments/gradient_exchange.h"
#include "experiments/optimizer_setup.h"
#include "layers/module.h"

namespace lpt {

struct StepResult {
  float loss = 0;       // the batch-mean loss (of the global batch when data-parallel)
  int64_t correct = 0;  // correctly classified images of the batch (of the global batch)
};

// Throws lpt::Error naming the step (and the tensor) when the loss or a gradient is NaN or Inf,
// before the optimizer has touched the weights.
//
// Data-parallel (`exchange` over a world of more than one process, SPEC §10): `images` and
// `labels` are this rank's equal shard of the global batch. After the backward pass every
// gradient, the loss and the correct count are summed over ranks in rank order
// (GradientExchange::average) and the gradient divided by the number of ranks: the mean of the
// shards' batch-mean gradients, i.e. the gradient of the loss normalised by the global batch size.
// Every rank then holds the same gradient and takes the same optimizer step.
// `before_update`, when given, runs just before the optimizer changes any parameter.
StepResult train_step(Module& model, OptimizerSet& optimizers, const Tensor& images, const Tensor& labels,
                      uint64_t seed, int64_t step, float label_smoothing,
                      GradientExchange* exchange = nullptr, const std::function<void()>& before_update = {});

}  // namespace lpt
