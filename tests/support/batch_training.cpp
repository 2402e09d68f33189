#include "tests/support/batch_training.h"

#include <algorithm>
#include <cmath>

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
                   const std::vector<std::string>& extra, int nudge) {
  std::vector<std::string> overrides = {"data.dataset=synthetic", "data.synthetic_size=32", "data.validation_size=0",
                                        "training.batch_size=32", "optimizer.lr=0.01", "quantization.execution=" + execution};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  if (config_name.rfind("mobilenet", 0) == 0) overrides.push_back("model.width=0.5");
  const json config = load_experiment(std::string(LPT_SOURCE_DIR) + "/experiments/configs/" + config_name, overrides);
  BatchTraining t = batch_training(config, 32, 10);
  if (nudge >= 0)
    for (auto& [name, p] : t.model->named_parameters()) {
      if (p.data().ndim() != 1 || name.size() < 7 || name.compare(name.size() - 7, 7, ".weight") != 0) continue;
      float* g = p.data().data<float>();  // a batch norm's scale: the only 1-D weights
      for (int64_t c = nudge; c < p.data().numel(); c += 4) g[c] = std::nextafter(g[c], INFINITY);
    }
  const float first = t.step(0), second = t.step(1);
  return {first, second, t.model};
}

std::pair<double, double> last_bit_sensitivity(const std::string& config_name,
                                               const std::vector<std::string>& overrides) {
  const TwoSteps base = two_steps(config_name, "emulated", overrides);
  double first = 0, second = 0;
  for (int nudge = 0; nudge < 4; ++nudge) {
    const TwoSteps t = two_steps(config_name, "emulated", overrides, nudge);
    first = std::max(first, std::fabs(double(t.first) - base.first) / std::fabs(double(base.first)));
    second = std::max(second, std::fabs(double(t.second) - base.second) / std::fabs(double(base.second)));
  }
  return {first, second};
}

}  // namespace lpt::testing
