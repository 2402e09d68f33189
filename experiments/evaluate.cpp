#include "experiments/evaluate.h"

#include "core/ops/loss.h"
#include "datasets/loader.h"
#include "experiments/quantization_setup.h"

namespace lpt {

EvalResult evaluate(Module& model, std::shared_ptr<const data::Dataset> dataset, const data::Pipeline& transforms,
                    int64_t batch_size, Tensor* logits_out, dist::World* world) {
  const bool sharded = world && world->distributed();
  LPT_CHECK(!(sharded && logits_out), "evaluate: logits are not collected in a sharded evaluation");
  data::LoaderOptions o;
  o.batch_size = batch_size;
  o.shuffle = false;
  o.drop_last = false;
  if (sharded) {
    o.shard = world->rank();
    o.shards = world->size();
  }
  data::Loader loader(std::move(dataset), transforms, o);
  loader.start_epoch(0);
  const bool was_training = model.training();
  model.eval();
  NoGradGuard no_grad;
  const FrozenWeights frozen(model);
  double loss_sum = 0;
  int64_t correct = 0, n = 0;
  std::vector<float> all_logits;
  int64_t classes = 0;
  while (auto batch = loader.next()) {
    if (batch->indices.empty()) continue;  // an empty shard of a batch smaller than the world
    const Variable logits = model(Variable(batch->images));
    const int64_t b = batch->labels.numel();
    if (logits_out) {
      const std::vector<float> v = logits.data().to_vector();
      all_logits.insert(all_logits.end(), v.begin(), v.end());
      classes = logits.shape()[1];
    }
    loss_sum += double(ops::softmax_cross_entropy(logits, batch->labels).data().item()) * double(b);
    correct += ops::count_correct(logits.data(), batch->labels);
    n += b;
  }
  model.train(was_training);
  if (sharded) {
    double sums[3] = {loss_sum, double(correct), double(n)};  // counts below 2^53 are exact
    world->sum_in_rank_order(sums, 3);
    loss_sum = sums[0];
    correct = int64_t(sums[1]);
    n = int64_t(sums[2]);
  }
  if (logits_out) *logits_out = Tensor::from_vector({n, classes}, all_logits);
  return {n ? loss_sum / double(n) : 0.0, n ? double(correct) / double(n) : 0.0, n};
}

void calibrate(Module& model, const DataSplits& data, int64_t batches, int64_t batch_size, uint64_t seed) {
  data::LoaderOptions o;
  o.batch_size = batch_size;
  o.seed = seed;
  data::Loader loader(data.train, data.eval_transforms, o);
  loader.start_epoch(0);
  const bool was_training = model.training();
  model.eval();
  set_calibrating(model, true);
  NoGradGuard no_grad;
  for (int64_t b = 0; b < batches; ++b) {
    auto batch = loader.next();
    if (!batch) break;
    model(Variable(batch->images));
  }
  set_calibrating(model, false);
  model.train(was_training);
}

int64_t calibrate_if_needed(Module& model, const json& config, const DataSplits& data) {
  if (!has_quantized_layers(model) || !quantizer_state(model).empty()) return 0;
  const int64_t batches = config["quantization"]["calibration_batches"];
  calibrate(model, data, batches, config["training"]["batch_size"], config["seed"]);
  return batches;
}

json evaluate_splits(Module& model, const DataSplits& data, int64_t batch_size, Tensor* test_logits,
                     dist::World* world) {
  json out = json::object();
  if (data.val) {
    const EvalResult v = evaluate(model, data.val, data.eval_transforms, batch_size, nullptr, world);
    out["val_loss"] = v.loss;
    out["val_accuracy"] = v.accuracy;
  }
  const EvalResult t = evaluate(model, data.test, data.eval_transforms, batch_size, test_logits, world);
  out["test_loss"] = t.loss;
  out["test_accuracy"] = t.accuracy;
  return out;
}

}  // namespace lpt
