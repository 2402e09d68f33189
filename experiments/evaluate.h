#pragma once
// Evaluation: mean cross-entropy and accuracy of a model over a whole dataset, in evaluation mode
// (BN running statistics, no dropout), without a graph.
#include <memory>

#include "core/dist/world.h"
#include "datasets/dataset.h"
#include "datasets/transforms.h"
#include "experiments/data_setup.h"
#include "layers/module.h"

namespace lpt {

struct EvalResult {
  double loss = 0;
  double accuracy = 0;
  int64_t images = 0;
};

// With `logits`, also returns the model's outputs for every image, [N, classes], in dataset order.
// Sharded over a data-parallel `world` (SPEC §10): each rank evaluates its contiguous part of
// every batch (data::LoaderOptions::shard) and the loss sums and correct counts are summed over
// ranks, so every rank returns the whole dataset's result (the accuracy one process gets; the loss
// up to summation order); `logits` is then not available.
EvalResult evaluate(Module& model, std::shared_ptr<const data::Dataset> dataset, const data::Pipeline& transforms,
                    int64_t batch_size, Tensor* logits = nullptr, dist::World* world = nullptr);

// PTQ calibration (SPEC §3): `batches` shuffled training batches (seeded by `seed`) with the
// evaluation transforms (no augmentation) through the model in evaluation mode (BN running
// statistics), each quantizer keeping the maximum over batches of its per-batch clip value, which
// evaluation then uses frozen.
void calibrate(Module& model, const DataSplits& data, int64_t batches, int64_t batch_size, uint64_t seed);

// PTQ: when the model has quantized layers but no quantizer state (an fp32 checkpoint under
// formats), calibrates with the config's calibration_batches. Returns the batches run (0: none).
int64_t calibrate_if_needed(Module& model, const json& config, const DataSplits& data);

// val_loss, val_accuracy (when there is a validation split), test_loss, test_accuracy; with
// `test_logits`, the test set's logits too.
json evaluate_splits(Module& model, const DataSplits& data, int64_t batch_size, Tensor* test_logits = nullptr,
                     dist::World* world = nullptr);

}  // namespace lpt
