#include <gtest/gtest.h>

#include <cmath>

#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/simple.h"
#include "tests/support/gradcheck.h"

namespace lpt {
namespace {

// conv -> bn -> relu, with a child sequence, to check naming and traversal.
class Block : public Module {
 public:
  Block() {
    conv = register_module("conv1", std::make_shared<Conv2d>(Conv2dOptions{2, 4, 3, 1, 1, 1, 1, false}));
    bn = register_module("bn1", std::make_shared<BatchNorm2d>(4));
    head = register_module("head", std::make_shared<Sequential>());
    head->add(std::make_shared<GlobalAvgPool2d>());
    head->add(std::make_shared<Flatten>());
    fc = head->add(std::make_shared<Linear>(4, 3));
  }
  Variable forward(const Variable& x) override { return (*head)(ops::relu((*bn)((*conv)(x)))); }
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm2d> bn;
  std::shared_ptr<Sequential> head;
  std::shared_ptr<Linear> fc;
};

TEST(Module, NamesFollowPyTorchStateDict) {
  Block b;
  b.name_modules();
  std::vector<std::string> params, buffers;
  for (auto& [n, p] : b.named_parameters()) params.push_back(n + shape_str(p.shape()));
  for (auto& [n, t] : b.named_buffers()) buffers.push_back(n);
  EXPECT_EQ(params, (std::vector<std::string>{"conv1.weight[4, 2, 3, 3]", "bn1.weight[4]", "bn1.bias[4]",
                                              "head.2.weight[3, 4]", "head.2.bias[3]"}));
  EXPECT_EQ(buffers, (std::vector<std::string>{"bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked"}));
  EXPECT_EQ(b.fc->name(), "head.2");
  EXPECT_EQ(b.fc->weight().name(), "head.2.weight");
}

TEST(Module, InitialisationFollowsPyTorchDefaultsAndTheSeed) {
  Block a, b, c;
  for (Block* m : {&a, &b, &c}) m->name_modules();
  a.initialize(1);
  b.initialize(1);
  c.initialize(2);
  EXPECT_EQ(a.conv->weight().data().to_vector(), b.conv->weight().data().to_vector());
  EXPECT_NE(a.conv->weight().data().to_vector(), c.conv->weight().data().to_vector());
  // kaiming_uniform(a = sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 2 * 3 * 3.
  const float bound = 1.0f / std::sqrt(18.0f);
  float max_abs = 0;
  for (float v : a.conv->weight().data().to_vector()) max_abs = std::max(max_abs, std::fabs(v));
  EXPECT_LE(max_abs, bound);
  EXPECT_GT(max_abs, 0.7f * bound);
  EXPECT_EQ(a.bn->weight().data().to_vector(), std::vector<float>(4, 1.0f));
  EXPECT_EQ(a.bn->bias().data().to_vector(), std::vector<float>(4, 0.0f));
}

TEST(Module, BatchNormUpdatesRunningStatisticsOnlyWhenTraining) {
  Block b;
  b.name_modules();
  b.initialize(0);
  const Tensor x = testing::random_tensor({4, 2, 5, 5}, 3, -1, 1, MemoryFormat::channels_last);
  b.eval();
  { b(Variable(x)); }
  EXPECT_EQ(b.bn->running_mean().to_vector(), std::vector<float>(4, 0.0f));
  b.train();
  b(Variable(x)).data();
  EXPECT_NE(b.bn->running_mean().to_vector(), std::vector<float>(4, 0.0f));
  int32_t tracked = 0;
  for (auto& [n, t] : b.named_buffers())
    if (n == "bn1.num_batches_tracked") tracked = t->data<int32_t>()[0];
  EXPECT_EQ(tracked, 1);
}

TEST(Module, EveryParameterReceivesAGradient) {
  Block b;
  b.name_modules();
  b.initialize(0);
  Variable y = b(Variable(testing::random_tensor({2, 2, 4, 4}, 5, -1, 1, MemoryFormat::channels_last)));
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  y.backward(Tensor::full({2, 3}, 1.0f));
  for (auto& [n, p] : b.named_parameters()) EXPECT_TRUE(p.has_grad()) << n;
}

TEST(Module, InvalidOptionsAreRejected) {
  EXPECT_THROW(Conv2d(Conv2dOptions{3, 4, 3, 1, 1, 1, 2, false}), Error);  // 3 channels in 2 groups
  EXPECT_THROW(Linear(0, 3), Error);
  EXPECT_THROW(BatchNorm2d(0), Error);
  EXPECT_THROW(Dropout(1.0f), Error);
}

}  // namespace
}  // namespace lpt
