#include "tests/support/batch_training.h"

#include "core/error.h"
#include "experiments/experiment_config.h"
#include "experiments/quantization_setup.h"
#include "experiments/train_step.h"

namespace lpt::testing {

float BatchTraining::step(int64_t step) {
  return train_step(*model, optimizers, batch.images, batch.labels, 0, step, 0).loss;
}

BatchTraining batch_training(const json& config, int64_t batch_size, int64_t schedule_steps) {
  DataSplits data = make_data(config);
  std::shared_ptr<Module> model = make_experiment_model(config, data, true);
  apply_quantization(*model, config, 0);
  OptimizerSet optimizers = make_optimizers(config, *model, schedule_steps);
  data::LoaderOptions lo;
  lo.batch_size = batch_size;
  data::Loader loader(data.train, data.eval_transforms, lo);
  loader.start_epoch(0);
  std::optional<data::Batch> batch = loader.next();
  LPT_CHECK(batch, "batch_training: the training set has no batch of ", batch_size);
  model->train();
  return {std::move(data), std::move(model), std::move(optimizers), std::move(*batch)};
}

TwoSteps two_steps(const std::string& config_name, const std::string& execution,
                   const std::vector<std::string>& extra) {
  std::vector<std::string> overrides = {"data.dataset=synthetic", "data.synthetic_size=32", "data.validation_size=0",
                                        "training.batch_size=32", "optimizer.lr=0.01", "quantization.execution=" + execution};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  if (config_name.rfind("mobilenet", 0) == 0) overrides.push_back("model.width=0.5");
  const json config = load_experiment(std::string(LPT_SOURCE_DIR) + "/experiments/configs/" + config_name, overrides);
  BatchTraining t = batch_training(config, 32, 10);
  const float first = t.step(0), second = t.step(1);
  return {first, second, t.model};
}

}  // namespace lpt::testing
