// The training step's NaN/Inf guard (experiments/train_step.h): a non-finite gradient stops the
// step before the optimizer runs, naming the tensor, even when the loss itself is finite.
#include <gtest/gtest.h>

#include <span>

#include "experiments/experiment_config.h"
#include "experiments/optimizer_setup.h"
#include "experiments/train_step.h"
#include "layers/conv2d.h"
#include "layers/simple.h"
#include "tests/support/gradcheck.h"

namespace lpt {
namespace {

void scale(Variable& p, float factor) {
  for (float& w : std::span(p.data().data<float>(), size_t(p.data().numel()))) w *= factor;
}

// Two linear layers without normalisation between them: inputs of 1e30 through fc1 weights of
// 1e-30 give hidden values near 1 and fc2 weights of 1e30 give logits near 1e30, so the loss is
// finite; but fc1's weight gradient, input (1e30) times the hidden gradient (fc2's weights, 1e30),
// overflows to Inf.
TEST(TrainStep, NonFiniteGradientIsNamedAndNoWeightChanges) {
  auto model = std::make_shared<Sequential>();
  model->add(std::make_shared<Flatten>());
  model->add(std::make_shared<Linear>(16, 8));
  model->add(std::make_shared<Linear>(8, 4));
  model->name_modules();
  model->initialize(1);
  for (auto& [name, p] : model->named_parameters()) {
    if (name == "1.weight") scale(p, 1e-30f);
    if (name == "2.weight") scale(p, 1e30f);
  }
  const json config = resolve_experiment(json::object(), "test");
  OptimizerSet optimizers = make_optimizers(config, *model, 10);
  Tensor images = testing::random_tensor({6, 1, 4, 4}, 3);
  for (float& x : std::span(images.data<float>(), 96)) x *= 1e30f;
  Tensor labels = Tensor::empty({6}, DType::s32);
  for (int32_t i = 0; i < 6; ++i) labels.data<int32_t>()[i] = i % 4;
  std::vector<std::vector<float>> before;
  for (auto& [name, p] : model->named_parameters()) before.push_back(p.data().to_vector());
  try {
    train_step(*model, optimizers, images, labels, 0, 0, 0);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "step 0: the gradient of '1.weight' holds NaN or Inf; training stopped, the last good checkpoint is kept");
  }
  size_t i = 0;
  for (auto& [name, p] : model->named_parameters()) EXPECT_EQ(p.data().to_vector(), before[i++]) << name;
}

}  // namespace
}  // namespace lpt
