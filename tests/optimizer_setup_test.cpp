// The optimizers a config builds (experiments/optimizer_setup.h): multi-dimensional weights under
// /optimizer and /schedule, 1-D parameters (biases, BN) under /optimizer/params_1d with its own
// optimizer, learning rate, schedule and weight decay; LNS-Madam's master-weight keys; and the
// config errors for keys that depend on each other, each naming the file and the key.
#include <gtest/gtest.h>

#include "experiments/experiment_config.h"
#include "experiments/optimizer_setup.h"
#include "models/models.h"
#include "optimizers/adam.h"
#include "optimizers/lns_madam.h"
#include "optimizers/sgd.h"

namespace lpt {
namespace {

json config_with(const std::vector<std::string>& overrides) {
  return resolve_experiment(json::object(), "test.json", overrides);
}

std::string error_of(const std::vector<std::string>& overrides) {
  try {
    config_with(overrides);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

struct Built {
  std::shared_ptr<Module> model = make_model("resnet20", ModelOptions{});
  OptimizerSet set;
};

Built build(const std::vector<std::string>& overrides, int64_t steps_per_epoch = 10) {
  Built b;
  b.set = make_optimizers(config_with(overrides), *b.model, steps_per_epoch);
  return b;
}

size_t count_params(const optim::Optimizer& o) {
  size_t n = 0;
  for (size_t g = 0; g < o.num_groups(); ++g) n += o.params(g).size();
  return n;
}

TEST(OptimizerSetup, OneDimensionalParametersHaveTheirOwnOptimizer) {
  Built b = build({"optimizer.name=adamw", "optimizer.lr=0.002", "optimizer.weight_decay=0.05"});
  ASSERT_EQ(b.set.optimizers.size(), 2u);
  for (const Variable& p : b.set.optimizers[0]->params(0)) EXPECT_GT(p.data().ndim(), 1) << p.name();
  for (const Variable& p : b.set.optimizers[1]->params(0)) EXPECT_EQ(p.data().ndim(), 1) << p.name();
  EXPECT_EQ(count_params(*b.set.optimizers[0]) + count_params(*b.set.optimizers[1]), b.model->parameters().size());
  // Unset keys take /optimizer's values, but weight decay defaults to 0.
  const auto* one_d = dynamic_cast<const optim::AdamW*>(b.set.optimizers[1].get());
  ASSERT_NE(one_d, nullptr);
  EXPECT_EQ(one_d->options(0).lr, 0.002);
  EXPECT_EQ(one_d->options(0).weight_decay, 0);
  EXPECT_EQ(dynamic_cast<const optim::AdamW&>(*b.set.optimizers[0]).options(0).weight_decay, 0.05);
}

TEST(OptimizerSetup, OneDimensionalSettingsOverride) {
  Built b = build({"optimizer.name=sgd", "optimizer.lr=0.1", "optimizer.params_1d.name=adam",
                   "optimizer.params_1d.lr=0.003", "optimizer.params_1d.weight_decay=0.01",
                   "optimizer.params_1d.betas=[0.8,0.99]"});
  const auto* one_d = dynamic_cast<const optim::Adam*>(b.set.optimizers[1].get());
  ASSERT_NE(one_d, nullptr);
  EXPECT_EQ(one_d->options(0).lr, 0.003);
  EXPECT_EQ(one_d->options(0).weight_decay, 0.01);
  EXPECT_EQ(one_d->options(0).beta1, 0.8);
  EXPECT_EQ(one_d->options(0).beta2, 0.99);
  EXPECT_NE(dynamic_cast<const optim::Sgd*>(b.set.optimizers[0].get()), nullptr);
}

// Each optimizer follows its own schedule: cosine for the weights, step for the 1-D group here.
TEST(OptimizerSetup, EachGroupFollowsItsSchedule) {
  Built b = build({"training.epochs=4", "schedule.name=cosine", "optimizer.lr=0.1",
                   "optimizer.params_1d.lr=0.5", "optimizer.params_1d.schedule={\"name\":\"step\",\"step_size\":1,\"gamma\":0.5}"},
                  10);
  b.set.set_iteration(20);  // half-way through 40 iterations; two step decays
  EXPECT_NEAR(b.set.optimizers[0]->lr(0), 0.05, 1e-12);
  EXPECT_NEAR(b.set.optimizers[1]->lr(0), 0.125, 1e-12);
  Built same = build({"training.epochs=4", "optimizer.params_1d.lr=0.5"}, 10);
  same.set.set_iteration(20);  // no params_1d schedule: /schedule
  EXPECT_NEAR(same.set.optimizers[1]->lr(0), 0.25, 1e-12);
}

TEST(OptimizerSetup, MultiplicativeOptimizersGiveOneDimensionalParametersSgd) {
  Built b = build({"optimizer.name=lns-madam", "optimizer.lr=0.0078125", "optimizer.params_1d.lr=0.1",
                   "optimizer.master_gamma=4096", "optimizer.update_rounding=stochastic", "seed=9"});
  const auto* lns = dynamic_cast<const optim::LnsMadam*>(b.set.optimizers[0].get());
  ASSERT_NE(lns, nullptr);
  EXPECT_EQ(lns->options(0).master, optim::MasterWeights::lns16);  // the default
  EXPECT_EQ(lns->options(0).master_gamma, 4096);
  EXPECT_EQ(lns->options(0).update_rounding, optim::UpdateRounding::stochastic);
  EXPECT_EQ(lns->options(0).seed, 9u);
  const auto* sgd = dynamic_cast<const optim::Sgd*>(b.set.optimizers[1].get());
  ASSERT_NE(sgd, nullptr);
  EXPECT_EQ(sgd->options(0).lr, 0.1);
  EXPECT_EQ(sgd->options(0).momentum, 0.9);
  Built fp32 = build({"optimizer.name=lns-madam", "optimizer.lr=0.01", "optimizer.params_1d.lr=0.1",
                      "optimizer.master_weights=fp32", "optimizer.master_gamma=1"});  // fp32 has no grid
  EXPECT_EQ(dynamic_cast<const optim::LnsMadam&>(*fp32.set.optimizers[0]).options(0).master,
            optim::MasterWeights::fp32);
}

TEST(OptimizerSetup, KeysThatDependOnEachOtherAreChecked) {
  auto has = [](const std::string& message, const std::string& part) {
    return message.find(part) != std::string::npos;
  };
  std::string m = error_of({"optimizer.decay_1d=true"});
  EXPECT_TRUE(has(m, "test.json: /optimizer/decay_1d: this key was removed: write /optimizer/params_1d/weight_decay"))
      << m;
  m = error_of({"optimizer.name=madam"});
  EXPECT_TRUE(has(m, "test.json: /optimizer/params_1d/lr: required with /optimizer/name \"madam\"")) << m;
  m = error_of({"optimizer.master_weights=lns16"});
  EXPECT_TRUE(has(m, "test.json: /optimizer/master_weights: applies to lns-madam only, not to \"sgd\"")) << m;
  m = error_of({"optimizer.name=lns-madam", "optimizer.lr=0.0078125", "optimizer.params_1d.lr=0.1",
                "optimizer.master_gamma=64"});
  EXPECT_TRUE(has(m, "test.json: /optimizer/master_gamma: 64 times /optimizer/lr 0.0078125 is 0.5, expected >= 1"))
      << m;
  m = error_of({"optimizer.master_gamma=3000"});
  EXPECT_TRUE(has(m, "test.json: /optimizer/master_gamma: expected a power of two, got 3000")) << m;
  m = error_of({"optimizer.master_gamma=65536"});
  EXPECT_TRUE(has(m, "/optimizer/master_gamma: expected integer <= 32768")) << m;
  m = error_of({"optimizer.betas=[0.9]"});
  EXPECT_TRUE(has(m, "test.json: /optimizer/betas: expected at least 2 element(s), got 1")) << m;
  m = error_of({"optimizer.betas=[0.9,0.99,0.999]"});
  EXPECT_TRUE(has(m, "/optimizer/betas: expected at most 2 element(s), got 3")) << m;
  m = error_of({"optimizer.betas=[0.9,1]"});
  EXPECT_TRUE(has(m, "/optimizer/betas/1: expected list of numbers < 1, got 1")) << m;
  m = error_of({"optimizer.params_1d.betas=[1.5,0.9]"});
  EXPECT_TRUE(has(m, "/optimizer/params_1d/betas/0: expected list of numbers < 1, got 1.5")) << m;
  m = error_of({"optimizer.params_1d.name=madam"});
  EXPECT_TRUE(has(m, "/optimizer/params_1d/name: expected one of sgd, adam, adamw")) << m;
  m = error_of({"optimizer.params_1d.schedule.name=linear"});
  EXPECT_TRUE(has(m, "/optimizer/params_1d/schedule/name: expected one of")) << m;
  EXPECT_EQ(error_of({"optimizer.betas=[0,0.5]", "optimizer.params_1d.weight_decay=0.1"}), "no error");
}

}  // namespace
}  // namespace lpt
