#pragma once
// `lpt train`: the training loop of an experiment, with evaluation, metrics, checkpoints, resume,
// Ctrl-C handling and NaN detection.
#include <string>

#include "experiments/schema.h"

namespace lpt {

struct TrainRequest {
  json config;             // validated, defaults filled
  std::string run_dir;     // where config, manifest, metrics and checkpoints go
  bool resume = false;     // continue from run_dir/checkpoint.h5
  int64_t stop_after_epochs = 0;  // > 0: checkpoint and stop once this many epochs are done
};

// Returns the process exit status: 0 when training completed (or stopped as asked), 130 when
// interrupted (after
// writing a checkpoint). Errors (bad data, NaN/Inf, mismatched checkpoints) throw lpt::Error; the
// last good checkpoint is kept.
int train(const TrainRequest& request);

}  // namespace lpt
