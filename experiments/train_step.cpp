#include "experiments/train_step.h"

#include <cmath>

#include "core/elementwise.h"
#include "core/ops/loss.h"
#include "layers/batch_shards.h"

namespace lpt {

namespace {

// A NaN or Inf anywhere stops the run, naming the tensor, before the optimizer can spread it.
void check_gradients_finite(const Module& model, int64_t step) {
  for (const auto& [name, p] : model.named_parameters())
    if (p.has_grad() && !finite_max_abs(p.grad()).finite)
      fail("step ", step, ": the gradient of '", name,
           "' holds NaN or Inf; training stopped, the last good checkpoint is kept");
}

// While a data-parallel step runs, the quantizers of batch tensors take their statistics over the
// global batch (SPEC §10), this process holding shard `rank` of `samples` images.
class ShardedQuantization {
 public:
  ShardedQuantization(dist::World* world, int64_t samples) : on_(world && world->distributed()) {
    if (!on_) return;
    set_batch_shards(formats::ShardReduce{
        .max = [world](std::span<float> v) { world->max_in_place(v.data(), int64_t(v.size())); },
        .sum = [world](std::span<double> v) { world->sum_in_rank_order(v.data(), int64_t(v.size())); },
        .shard = world->rank(),
        .samples = samples});
  }
  ~ShardedQuantization() {
    if (on_) set_batch_shards(std::nullopt);
  }
  ShardedQuantization(const ShardedQuantization&) = delete;
  ShardedQuantization& operator=(const ShardedQuantization&) = delete;

 private:
  bool on_;
};

}  // namespace

StepResult train_step(Module& model, OptimizerSet& optimizers, const Tensor& images, const Tensor& labels,
                      uint64_t seed, int64_t step, float label_smoothing, GradientExchange* exchange,
                      const std::function<void()>& before_update) {
  const ShardedQuantization sharded(exchange ? &exchange->world() : nullptr, images.shape()[0]);
  optimizers.set_iteration(step);
  model.begin_step(seed, uint64_t(step));
  const Variable logits = model(Variable(images));
  Variable loss = ops::softmax_cross_entropy(logits, labels, label_smoothing);
  const float loss_value = loss.data().item();
  LPT_CHECK(std::isfinite(loss_value), "step ", step, ": the loss is ", loss_value,
            "; training stopped, the last good checkpoint is kept");
  optimizers.zero_grad();
  loss.backward();
  int64_t correct = ops::count_correct(logits.data(), labels);
  float mean_loss = loss_value;
  if (exchange && exchange->world().distributed()) {
    std::vector<float> extra = {loss_value, float(correct)};  // counts below 2^24 are exact in f32
    exchange->average(model, extra);
    mean_loss = extra[0] / float(exchange->world().size());
    correct = int64_t(extra[1]);
  }
  check_gradients_finite(model, step);
  if (before_update) before_update();
  optimizers.step();
  return {mean_loss, correct};
}

}  // namespace lpt
