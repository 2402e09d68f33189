#include "experiments/train_step.h"

#include <cmath>

#include "core/elementwise.h"
#include "core/ops/loss.h"
#include "experiments/quantization_setup.h"
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

// One process quantizes the weight gradient of the whole batch; under data parallelism that is the
// averaged gradient, so the quantization each layer's backward pass left waiting applies now.
void quantize_weight_gradients(Module& model) {
  for (auto& [name, layer] : gemm_layers(model)) {
    GemmQuantizer* q = layer->quantizer();
    if (!q || !q->pending_weight_gradient()) continue;
    LPT_CHECK(layer->weight().has_grad(), "layer '", name, "': a weight-gradient quantization waits but the weight has no gradient");
    Tensor g = layer->weight().grad();
    g.copy_from(q->quantize_pending_weight_gradient(g));
  }
}

}  // namespace

void average_gradients(Module& model, dist::World& world, std::vector<float>& extra) {
  if (!world.distributed()) return;
  std::vector<Tensor> grads;
  int64_t total = 0;
  for (const auto& [name, p] : model.named_parameters())
    if (p.has_grad()) {
      const Tensor& g = p.grad();
      LPT_CHECK(g.dtype() == DType::f32 && g.is_dense(), "data-parallel training: the gradient of '", name,
                "' is not a dense f32 tensor");
      grads.push_back(g);
      total += g.numel();
    }
  std::vector<float> buffer(size_t(total + int64_t(extra.size())));
  int64_t at = 0;
  for (const Tensor& g : grads) {
    std::copy(g.data<float>(), g.data<float>() + g.numel(), buffer.begin() + at);
    at += g.numel();
  }
  std::copy(extra.begin(), extra.end(), buffer.begin() + at);
  world.sum_in_rank_order(buffer.data(), int64_t(buffer.size()));
  const float n = float(world.size());
  at = 0;
  for (Tensor& g : grads) {
    float* d = g.data<float>();
    for (int64_t i = 0; i < g.numel(); ++i) d[i] = buffer[size_t(at + i)] / n;
    at += g.numel();
  }
  std::copy(buffer.begin() + at, buffer.end(), extra.begin());
}

namespace {

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
                      uint64_t seed, int64_t step, float label_smoothing, dist::World* world) {
  const ShardedQuantization sharded(world, images.shape()[0]);
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
  if (world && world->distributed()) {
    std::vector<float> extra = {loss_value, float(correct)};  // counts below 2^24 are exact in f32
    average_gradients(model, *world, extra);
    quantize_weight_gradients(model);
    mean_loss = extra[0] / float(world->size());
    correct = int64_t(extra[1]);
  }
  check_gradients_finite(model, step);
  optimizers.step();
  return {mean_loss, correct};
}

}  // namespace lpt
