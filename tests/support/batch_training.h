#pragma once
// A few training steps on one batch, set up as `lpt train` sets up a run: the model, its formats
// for epoch 0, optimizers and schedules from a config, and the first training batch without
// augmentation. For tests that compare losses over a few steps.
#include <memory>

#include "datasets/loader.h"
#include "experiments/data_setup.h"
#include "experiments/optimizer_setup.h"
#include "layers/module.h"

namespace lpt::testing {

struct BatchTraining {
  DataSplits data;
  std::shared_ptr<Module> model;
  OptimizerSet optimizers;
  data::Batch batch;
  // One training step (seed 0, no label smoothing) on the batch; its loss.
  float step(int64_t step);
};

// The schedules span `schedule_steps` iterations; the model is left in training mode.
BatchTraining batch_training(const json& config, int64_t batch_size, int64_t schedule_steps);

// Two steps of a shipped config (experiments/configs/NAME) on 32 synthetic images, lr 0.01,
// MobileNets at width 0.5, with quantization.execution set: the loss of the first step and the
// loss after one update, and the model (whose GEMMs' lanes are on record). `overrides` (--set
// assignments) apply after those. With nudge ≥ 0, the batch norms' scales of every 4th channel
// (channel ≡ nudge mod 4) move up by one ulp first, which moves their outputs in the last bit as
// a GEMM that sums in another order moves its outputs: how far that moves the losses is the
// network's own last-bit sensitivity, the yardstick for lanes whose sums round differently.
struct TwoSteps {
  float first, second;
  std::shared_ptr<Module> model;
};
TwoSteps two_steps(const std::string& config_name, const std::string& execution,
                   const std::vector<std::string>& overrides = {}, int nudge = -1);

// The largest relative change of the first and of the second loss over the nudges 0..3 of the
// emulated lane: what last-bit changes alone do to this network.
std::pair<double, double> last_bit_sensitivity(const std::string& config_name,
                                               const std::vector<std::string>& overrides = {});

}  // namespace lpt::testing
