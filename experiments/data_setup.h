#pragma once
// Builds the datasets, the validation split and the transform pipelines that /data describes, and
// the /model that fits them (input channels, size and classes come from the data).
#include <memory>

#include "datasets/dataset.h"
#include "datasets/transforms.h"
#include "experiments/schema.h"
#include "layers/module.h"

namespace lpt {

struct DataSplits {
  std::shared_ptr<const data::Dataset> train, val, test;  // val is null when validation_size is 0
  data::Pipeline train_transforms, eval_transforms;
  data::SampleShape shape;  // of a transformed sample
  int num_classes = 0;
};

DataSplits make_data(const json& config);

// initialise: draw initial weights from /seed; otherwise leave them for a checkpoint to fill.
std::shared_ptr<Module> make_experiment_model(const json& config, const DataSplits& data, bool initialise);

}  // namespace lpt
