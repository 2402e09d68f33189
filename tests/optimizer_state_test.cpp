// Optimizer mechanics shared by all optimizers: checkpoint state (names, bit-exact resume, clear
// errors), hyperparameter checks, parameter groups by rule, skipped and shared gradients.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>

#include "core/threads.h"
#include "optimizers/adam.h"
#include "optimizers/madam.h"
#include "optimizers/sgd.h"
#include "tests/support/gradcheck.h"

namespace lpt::optim {
namespace {

using testing::random_tensor;

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    return;
  }
  ADD_FAILURE() << "no lpt::Error thrown (expected one mentioning '" << parts.at(0) << "')";
}

bool same_bits(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  return a.shape() == b.shape() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

// A conv-like weight, a bias and a BN-like scale; each step gives them fresh gradients.
struct Model {
  std::vector<Variable> params{Variable(random_tensor({4, 3, 3, 3}, 1), true, "conv.weight"),
                               Variable(random_tensor({4}, 2), true, "conv.bias"),
                               Variable(random_tensor({4}, 3, 0.5f, 1.5f), true, "bn.weight")};
  Model clone() const {
    Model m;
    for (size_t i = 0; i < params.size(); ++i) m.params[i].data().copy_from(params[i].data());
    return m;
  }
  void set_grads(int step) {
    for (size_t i = 0; i < params.size(); ++i) {
      params[i].zero_grad();
      params[i].accumulate_grad(random_tensor(params[i].shape(), 100 + 10 * uint64_t(step) + i));
    }
  }
};

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(const std::vector<Variable>&)>;

// Weights in one group, 1-D parameters in another with other hyperparameters.
std::vector<std::pair<std::string, MakeOptimizer>> optimizers() {
  return {
      {"sgd_nesterov",
       [](const std::vector<Variable>& p) {
         return std::make_unique<Sgd>(std::vector<ParamGroup<SgdOptions>>{
             {{p[0]}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true}},
             {{p[1], p[2]}, {.lr = 0.05, .momentum = 0.5, .dampening = 0.1}}});
       }},
      {"adam_amsgrad",
       [](const std::vector<Variable>& p) {
         return std::make_unique<Adam>(std::vector<ParamGroup<AdamOptions>>{
             {{p[0]}, {.lr = 1e-2, .weight_decay = 1e-2, .amsgrad = true}}, {{p[1], p[2]}, {.lr = 3e-2}}});
       }},
      {"adamw",
       [](const std::vector<Variable>& p) {
         return std::make_unique<AdamW>(std::vector<ParamGroup<AdamOptions>>{
             {{p[0]}, {.lr = 1e-2, .weight_decay = 0.05}}, {{p[1], p[2]}, {.lr = 1e-2}}});
       }},
      {"madam",
       [](const std::vector<Variable>& p) {
         return std::make_unique<Madam>(std::vector<ParamGroup<MadamOptions>>{{{p[0], p[2]}, {.lr = 0.05}},
                                                                             {{p[1]}, {.lr = 0.02, .p_scale = 2}}});
       }},
  };
}

TEST(OptimizerState, ResumeIsBitExact) {
  for (const auto& [label, make] : optimizers()) {
    SCOPED_TRACE(label);
    // Five steps straight.
    Model straight;
    auto opt = make(straight.params);
    for (int s = 0; s < 5; ++s) {
      straight.set_grads(s);
      opt->set_lr(0, opt->base_lr(0) * (1.0 - 0.1 * s));
      opt->step();
    }
    // Two steps, save, a fresh optimizer on a copy of the weights, load, three more steps.
    Model first;
    auto opt1 = make(first.params);
    for (int s = 0; s < 2; ++s) {
      first.set_grads(s);
      opt1->set_lr(0, opt1->base_lr(0) * (1.0 - 0.1 * s));
      opt1->step();
    }
    OptimizerState saved = opt1->state();
    Model resumed = first.clone();
    auto opt2 = make(resumed.params);
    opt2->load_state(saved);
    for (auto& [name, t] : saved.tensors) t.fill(123.0f);  // the optimizer keeps its own copies
    for (int s = 2; s < 5; ++s) {
      resumed.set_grads(s);
      opt2->set_lr(0, opt2->base_lr(0) * (1.0 - 0.1 * s));
      opt2->step();
    }
    for (size_t i = 0; i < straight.params.size(); ++i)
      EXPECT_TRUE(same_bits(straight.params[i].data(), resumed.params[i].data())) << straight.params[i].name();
    const OptimizerState a = opt->state(), b = opt2->state();
    ASSERT_EQ(a.tensors.size(), b.tensors.size());
    for (size_t i = 0; i < a.tensors.size(); ++i) {
      EXPECT_EQ(a.tensors[i].first, b.tensors[i].first);
      EXPECT_TRUE(same_bits(a.tensors[i].second, b.tensors[i].second)) << a.tensors[i].first;
    }
    EXPECT_EQ(a.scalars, b.scalars);
  }
}

std::vector<std::string> names_of(const OptimizerState& s) {
  std::vector<std::string> n;
  for (const auto& [name, t] : s.tensors) n.push_back(name);
  for (const auto& [name, v] : s.scalars) n.push_back(name + "=" + std::to_string(v));
  return n;
}

TEST(OptimizerState, Names) {
  Model m;
  m.set_grads(0);
  m.params[2].zero_grad();  // not updated yet: no state
  using V = std::vector<std::string>;
  Sgd plain(m.params, {.lr = 0.1});
  plain.step();
  EXPECT_EQ(names_of(plain.state()), V{});
  Sgd momentum(m.params, {.lr = 0.1, .momentum = 0.9});
  momentum.step();
  EXPECT_EQ(names_of(momentum.state()), (V{"optimizer.conv.weight.momentum_buffer", "optimizer.conv.bias.momentum_buffer"}));
  Adam adam(m.params, {.amsgrad = true});
  adam.step();
  adam.step();
  EXPECT_EQ(names_of(adam.state()),
            (V{"optimizer.conv.weight.exp_avg", "optimizer.conv.weight.exp_avg_sq", "optimizer.conv.weight.max_exp_avg_sq",
               "optimizer.conv.bias.exp_avg", "optimizer.conv.bias.exp_avg_sq", "optimizer.conv.bias.max_exp_avg_sq",
               "optimizer.conv.weight.step=2", "optimizer.conv.bias.step=2"}));
  Madam madam(m.params, {});
  madam.step();
  EXPECT_EQ(names_of(madam.state()),
            (V{"optimizer.conv.weight.exp_avg_sq", "optimizer.conv.weight.bound", "optimizer.conv.bias.exp_avg_sq",
               "optimizer.conv.bias.bound", "optimizer.conv.weight.step=1", "optimizer.conv.bias.step=1"}));
}

TEST(OptimizerState, LoadErrorsNameTheEntryAndChangeNothing) {
  Model m;
  m.set_grads(0);
  Adam adam(m.params, {});
  adam.step();
  const OptimizerState good = adam.state();
  auto with = [&](const std::function<void(OptimizerState&)>& edit) {
    OptimizerState s = good;
    edit(s);
    return s;
  };
  expect_error([&] { adam.load_state(with([](OptimizerState& s) { s.tensors[0].first = "optimizer.fc.weight.exp_avg"; })); },
               {"Adam.load_state", "'optimizer.fc.weight.exp_avg'", "no parameter", "'fc.weight'"});
  expect_error([&] { adam.load_state(with([](OptimizerState& s) { s.tensors[0].first = "conv.weight.exp_avg"; })); },
               {"'conv.weight.exp_avg'", "optimizer.<parameter>.<key>"});
  expect_error(
      [&] {
        adam.load_state(with([](OptimizerState& s) { s.tensors[0].first = "optimizer.conv.weight.momentum_buffer"; }));
      },
      {"'optimizer.conv.weight.momentum_buffer'", "exp_avg, exp_avg_sq", "'momentum_buffer'"});
  expect_error([&] { adam.load_state(with([](OptimizerState& s) { s.tensors[0].second = Tensor::zeros({4, 27}); })); },
               {"'optimizer.conv.weight.exp_avg'", "[4, 27]", "expected f32[4, 3, 3, 3]"});
  expect_error([&] { adam.load_state(with([](OptimizerState& s) { s.tensors.erase(s.tensors.begin() + 1); })); },
               {"'optimizer.conv.weight.exp_avg_sq' is missing"});
  expect_error([&] { adam.load_state(with([](OptimizerState& s) { s.scalars.erase(s.scalars.begin()); })); },
               {"'optimizer.conv.weight.step' is missing"});
  expect_error([&] { adam.load_state(with([](OptimizerState& s) { s.scalars[0].second = 0; })); },
               {"'optimizer.conv.weight.step'", ">= 1"});
  expect_error([&] { adam.load_state(with([](OptimizerState& s) { s.tensors.push_back(s.tensors[0]); })); },
               {"'optimizer.conv.weight.exp_avg' appears twice"});
  Sgd sgd(m.params, {.lr = 0.1, .momentum = 0.9});
  expect_error([&] { sgd.load_state(good); }, {"SGD.load_state", "momentum_buffer", "not 'exp_avg'"});
  // After all those failures the state is still the one saved.
  const OptimizerState now = adam.state();
  ASSERT_EQ(now.tensors.size(), good.tensors.size());
  for (size_t i = 0; i < now.tensors.size(); ++i) EXPECT_TRUE(same_bits(now.tensors[i].second, good.tensors[i].second));
  EXPECT_EQ(now.scalars, good.scalars);
}

TEST(OptimizerState, EmptyStateMeansAFreshStart) {
  Model a, b;
  a.set_grads(0);
  b.set_grads(0);
  Adam used(a.params, {});
  used.step();
  used.load_state({});
  EXPECT_TRUE(used.state().tensors.empty());
  for (size_t i = 0; i < a.params.size(); ++i) b.params[i].data().copy_from(a.params[i].data());
  Adam fresh(b.params, {});
  used.step();
  fresh.step();
  for (size_t i = 0; i < a.params.size(); ++i) EXPECT_TRUE(same_bits(a.params[i].data(), b.params[i].data()));
}

TEST(OptimizerState, BadHyperparameters) {
  const std::vector<Variable> p{Variable(Tensor::zeros({3}), true, "w")};
  expect_error([&] { Sgd(p, {.lr = -0.1}); }, {"SGD", "learning rate -0.1"});
  expect_error([&] { Sgd(p, {.lr = std::nan("")}); }, {"SGD", "learning rate"});
  expect_error([&] { Sgd(p, {.momentum = 1.0}); }, {"SGD", "momentum 1", "[0, 1)"});
  expect_error([&] { Sgd(p, {.momentum = -0.5}); }, {"SGD", "momentum -0.5"});
  expect_error([&] { Sgd(p, {.dampening = 1.5}); }, {"SGD", "dampening 1.5"});
  expect_error([&] { Sgd(p, {.weight_decay = -1e-4}); }, {"SGD", "weight decay"});
  expect_error([&] { Sgd(p, {.nesterov = true}); }, {"SGD", "Nesterov", "momentum > 0"});
  expect_error([&] { Sgd(p, {.momentum = 0.9, .dampening = 0.1, .nesterov = true}); }, {"Nesterov", "dampening 0"});
  expect_error([&] { Adam(p, {.beta1 = 1.0}); }, {"Adam", "beta1 1"});
  expect_error([&] { AdamW(p, {.beta2 = -0.1}); }, {"AdamW", "beta2 -0.1"});
  expect_error([&] { Adam(p, {.eps = -1e-8}); }, {"Adam", "eps"});
  expect_error([&] { Adam(p, {.lr = -1e-3}); }, {"Adam", "learning rate"});
  expect_error([&] { Madam(p, {.p_scale = 0}); }, {"Madam", "p_scale 0"});
  expect_error([&] { Madam(p, {.beta = 1}); }, {"Madam", "beta 1"});
  expect_error([&] { Madam(p, {.g_bound = -1}); }, {"Madam", "g_bound -1"});
  // Group 1's problem is reported as group 1.
  expect_error([&] { Sgd({{{p[0]}, {.lr = 0.1}}, {{Variable(Tensor::zeros({2}), true, "v")}, {.momentum = 2}}}); },
               {"group 1", "momentum 2"});
  Sgd ok(p, {.lr = 0.1});
  expect_error([&] { ok.set_lr(0, -1); }, {"SGD", "learning rate -1"});
  expect_error([&] { ok.set_lr(3, 0.1); }, {"group 3 out of range"});
}

TEST(OptimizerState, BadParameters) {
  Variable w(Tensor::zeros({3}), true, "w");
  expect_error([&] { Sgd({w, Variable(Tensor::zeros({3}), true, "w")}, {}); }, {"'w' appears twice"});
  expect_error([&] { Sgd({{{w}, {}}, {{w}, {}}}); }, {"'w' appears twice"});
  expect_error([&] { Sgd({Variable(Tensor::zeros({3}), true)}, {}); }, {"has no name"});
  Sgd sgd({w}, {});
  w.accumulate_grad(Tensor::zeros({3}));
  w.data() = Tensor::zeros({4});  // weights replaced after the backward pass
  expect_error([&] { sgd.step(); }, {"SGD", "gradient of 'w'", "[3]", "expected f32[4]"});
}

// Parameters without a gradient are left alone (and get no state); gradients are only read.
TEST(OptimizerState, SkipsMissingGradientsAndNeverWritesGradients) {
  Model m;
  m.set_grads(0);
  m.params[1].zero_grad();
  const Tensor bias_before = m.params[1].data().clone();
  const Tensor grad0 = m.params[0].grad();
  const Tensor grad0_copy = grad0.clone();
  Variable other(Tensor::zeros({4, 3, 3, 3}), true, "other");
  other.accumulate_grad(grad0);  // the same gradient tensor held by someone else
  Adam adam({{{m.params[0]}, {.weight_decay = 0.1}}, {{m.params[1], m.params[2]}, {}}});
  adam.step();
  AdamW adamw(m.params, {.weight_decay = 0.1});
  adamw.step();
  EXPECT_TRUE(same_bits(m.params[1].data(), bias_before));
  EXPECT_TRUE(same_bits(grad0, grad0_copy));
  EXPECT_TRUE(same_bits(other.grad(), grad0_copy));
  for (const auto& [name, t] : adam.state().tensors) EXPECT_EQ(name.find("conv.bias"), std::string::npos) << name;
  adam.zero_grad();
  for (const Variable& p : m.params) EXPECT_FALSE(p.has_grad());
}

// A gradient in another layout (channels-last here) updates like the same values contiguous.
TEST(OptimizerState, GradientLayoutDoesNotMatter) {
  Model a, b;
  a.set_grads(0);
  for (size_t i = 0; i < b.params.size(); ++i) {
    const Tensor g = a.params[i].grad();
    b.params[i].accumulate_grad(g.ndim() == 4 ? g.to(MemoryFormat::channels_last) : g);
  }
  ASSERT_TRUE(b.params[0].grad().is_channels_last());
  Sgd sa(a.params, {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-2});
  Sgd sb(b.params, {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-2});
  sa.step();
  sb.step();
  for (size_t i = 0; i < a.params.size(); ++i) EXPECT_TRUE(same_bits(a.params[i].data(), b.params[i].data()));
}

// Large tensors run on several threads: the same bits as on one.
TEST(OptimizerState, ThreadCountDoesNotChangeResults) {
  const int threads = num_threads();
  std::vector<Tensor> results;
  for (int t : {1, 2}) {
    set_num_threads(t);
    Variable w(random_tensor({300, 200}, 7), true, "w");
    w.accumulate_grad(random_tensor({300, 200}, 8));
    Adam adam({w}, {.weight_decay = 1e-2, .amsgrad = true});
    adam.step();
    Madam madam({w}, {});
    madam.step();
    Sgd sgd({w}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
    sgd.step();
    sgd.step();
    results.push_back(w.data());
  }
  set_num_threads(threads);
  EXPECT_TRUE(same_bits(results[0], results[1]));
}

TEST(OptimizerState, SplitParams) {
  Model m;
  // No weight decay on 1-D parameters.
  auto by_ndim = split_params(m.params, {has_ndim(1)});
  ASSERT_EQ(by_ndim.size(), 2u);
  ASSERT_EQ(by_ndim[0].size(), 2u);
  EXPECT_TRUE(by_ndim[0][0].same(m.params[1]));
  EXPECT_TRUE(by_ndim[0][1].same(m.params[2]));
  ASSERT_EQ(by_ndim[1].size(), 1u);
  EXPECT_TRUE(by_ndim[1][0].same(m.params[0]));
  // The first matching rule wins; the rest go last.
  auto by_name = split_params(m.params, {name_matches("bn.*"), name_matches("*.bias"), name_matches("*.b?as")});
  ASSERT_EQ(by_name.size(), 4u);
  EXPECT_EQ(by_name[0].size(), 1u);
  EXPECT_TRUE(by_name[0][0].same(m.params[2]));
  EXPECT_EQ(by_name[1].size(), 1u);
  EXPECT_TRUE(by_name[1][0].same(m.params[1]));
  EXPECT_TRUE(by_name[2].empty());
  EXPECT_EQ(by_name[3].size(), 1u);
  EXPECT_TRUE(by_name[3][0].same(m.params[0]));
  EXPECT_TRUE(name_matches("layer1.*.conv?.weight")(Variable(Tensor::zeros({1}), false, "layer1.0.conv2.weight")));
  EXPECT_FALSE(name_matches("*.bias")(Variable(Tensor::zeros({1}), false, "conv.bias.x")));
  // The groups feed an optimizer directly.
  auto groups = split_params(m.params, {has_ndim(1)});
  Sgd sgd({{groups[0], {.lr = 0.1, .momentum = 0.9}}, {groups[1], {.lr = 0.1, .momentum = 0.9, .weight_decay = 5e-4}}});
  EXPECT_EQ(sgd.num_groups(), 2u);
  EXPECT_EQ(sgd.options(1).weight_decay, 5e-4);
}

}  // namespace
}  // namespace lpt::optim
