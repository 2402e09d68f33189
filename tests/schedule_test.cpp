// LR schedules against the lr values PyTorch 1.13's schedulers give over the first iterations,
// for two parameter groups with base lrs 0.1 and 0.02. PyTorch mostly updates lrs recursively
// (lr ← lr·factor), our schedules use the closed forms: they agree to a few ulps.
//
// Expected values from /usr/bin/python3 (torch 1.13):
//   import torch; O = torch.optim; L = torch.optim.lr_scheduler
//   def lrs(make, n, base=(0.1, 0.02)):
//       p = torch.zeros(1, requires_grad=True); q = torch.zeros(1, requires_grad=True)
//       opt = O.SGD([dict(params=[p], lr=base[0]), dict(params=[q], lr=base[1])])
//       s = make(opt); out = []
//       for _ in range(n):
//           out.append([g['lr'] for g in opt.param_groups]); opt.step(); s.step()
//       return out
//   def fmt(v): return '{' + ', '.join('{%.17g, %.17g}' % tuple(x) for x in v) + '}'
//   print(fmt(lrs(lambda o: L.StepLR(o, step_size=3, gamma=0.5), 12)))  # and so on, as in each test
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "optimizers/schedule.h"
#include "optimizers/sgd.h"

namespace lpt::optim {
namespace {

using Lrs = std::vector<std::vector<double>>;  // [iteration][group]

void expect_schedule(const LrSchedule& schedule, const Lrs& want) {
  const Variable p(Tensor::zeros({1}), true, "p"), q(Tensor::zeros({1}), true, "q");
  Sgd sgd({{{p}, {.lr = 0.1}}, {{q}, {.lr = 0.02}}});
  // Any order of iterations: the lr is a function of the iteration alone.
  for (int64_t t = int64_t(want.size()) - 1; t >= 0; --t) {
    schedule.apply(sgd, t);
    for (size_t g = 0; g < 2; ++g) {
      EXPECT_NEAR(sgd.lr(g), want[size_t(t)][g], 1e-14 * want[size_t(t)][g]) << "iteration " << t << " group " << g;
      EXPECT_EQ(sgd.base_lr(g), g == 0 ? 0.1 : 0.02);
    }
  }
}

TEST(Schedule, Constant) {
  expect_schedule(LrSchedule::constant(), Lrs(5, {0.1, 0.02}));
  // Warm-up then constant: L.LinearLR(o, start_factor=0.5, total_iters=2)
  expect_schedule(LrSchedule::constant().with_warmup(2, 0.5), {{0.05, 0.01}, {0.075, 0.015}, {0.1, 0.02}, {0.1, 0.02}});
}

TEST(Schedule, Step) {
  // L.StepLR(o, step_size=3, gamma=0.5), 12 iterations
  expect_schedule(LrSchedule::step(3, 0.5), Lrs{{0.10000000000000001, 0.02}, {0.10000000000000001, 0.02}, {0.10000000000000001, 0.02}, {0.050000000000000003, 0.01}, {0.050000000000000003, 0.01}, {0.050000000000000003, 0.01}, {0.025000000000000001, 0.0050000000000000001}, {0.025000000000000001, 0.0050000000000000001}, {0.025000000000000001, 0.0050000000000000001}, {0.012500000000000001, 0.0025000000000000001}, {0.012500000000000001, 0.0025000000000000001}, {0.012500000000000001, 0.0025000000000000001}});
}

TEST(Schedule, Multistep) {
  // L.MultiStepLR(o, milestones=[2, 5, 9], gamma=0.1), 12 iterations
  expect_schedule(LrSchedule::multistep({2, 5, 9}, 0.1), Lrs{{0.10000000000000001, 0.02}, {0.10000000000000001, 0.02}, {0.010000000000000002, 0.002}, {0.010000000000000002, 0.002}, {0.010000000000000002, 0.002}, {0.0010000000000000002, 0.00020000000000000001}, {0.0010000000000000002, 0.00020000000000000001}, {0.0010000000000000002, 0.00020000000000000001}, {0.0010000000000000002, 0.00020000000000000001}, {0.00010000000000000003, 2.0000000000000002e-05}, {0.00010000000000000003, 2.0000000000000002e-05}, {0.00010000000000000003, 2.0000000000000002e-05}});
}

TEST(Schedule, CosinePerIteration) {
  // L.CosineAnnealingLR(o, T_max=10, eta_min=1e-3), 14 iterations (past T_max it rises again)
  expect_schedule(LrSchedule::cosine(10, 1e-3), Lrs{{0.10000000000000001, 0.02}, {0.097577297556610113, 0.01953503690480396}, {0.090546341221559898, 0.018185661446562001}, {0.079595369988477424, 0.016083959896778494}, {0.065796341221559904, 0.013435661446561997}, {0.050500000000000003, 0.010499999999999995}, {0.03520365877844011, 0.0075643385534379963}, {0.021404630011522589, 0.0049160401032215043}, {0.010453658778440109, 0.0028143385534379994}, {0.0034227024433899004, 0.0014649630951960413}, {0.001, 0.001}, {0.0034227024433899004, 0.0014649630951960415}, {0.01045365877844014, 0.0028143385534380068}, {0.021404630011522669, 0.0049160401032215225}});
}

TEST(Schedule, WarmupThenCosine) {
  // L.SequentialLR(o, [L.LinearLR(o, start_factor=0.1, total_iters=4),
  //                    L.CosineAnnealingLR(o, T_max=8, eta_min=1e-3)], milestones=[4]), 14 iterations
  expect_schedule(LrSchedule::cosine(8, 1e-3).with_warmup(4, 0.1), Lrs{{0.010000000000000002, 0.002}, {0.032500000000000008, 0.0065000000000000006}, {0.055000000000000014, 0.011000000000000001}, {0.077500000000000027, 0.015500000000000002}, {0.10000000000000001, 0.02}, {0.096232036859308701, 0.019276855558857223}, {0.085501785668734107, 0.017217514421272201}, {0.069442829902071956, 0.014135492607468353}, {0.050500000000000003, 0.010499999999999999}, {0.031557170097928057, 0.0068645073925316467}, {0.0154982143312659, 0.0037824855787277987}, {0.0047679631406913059, 0.001723144441142776}, {0.001, 0.001}, {0.0047679631406913068, 0.001723144441142776}});
}

TEST(Schedule, WarmupThenMultistep) {
  // L.SequentialLR(o, [L.LinearLR(o, start_factor=0.25, total_iters=3),
  //                    L.MultiStepLR(o, milestones=[2, 4], gamma=0.5)], milestones=[3]), 10 iterations
  expect_schedule(LrSchedule::multistep({2, 4}, 0.5).with_warmup(3, 0.25), Lrs{{0.025000000000000001, 0.0050000000000000001}, {0.050000000000000003, 0.01}, {0.075000000000000011, 0.014999999999999999}, {0.10000000000000001, 0.02}, {0.10000000000000001, 0.02}, {0.050000000000000003, 0.01}, {0.050000000000000003, 0.01}, {0.025000000000000001, 0.0050000000000000001}, {0.025000000000000001, 0.0050000000000000001}, {0.025000000000000001, 0.0050000000000000001}});
}

void expect_error(const std::function<void()>& f, const std::string& part) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    return;
  }
  ADD_FAILURE() << "no lpt::Error thrown (expected one mentioning '" << part << "')";
}

TEST(Schedule, BadParameters) {
  expect_error([] { LrSchedule::step(0, 0.1); }, "step_size 0");
  expect_error([] { LrSchedule::step(10, -0.1); }, "gamma -0.1");
  expect_error([] { LrSchedule::multistep({5, 3}, 0.1); }, "increasing order");
  expect_error([] { LrSchedule::multistep({0}, 0.1); }, "milestone 0 is 0");
  expect_error([] { LrSchedule::cosine(0); }, "T_max 0");
  expect_error([] { LrSchedule::cosine(10, -1); }, "eta_min -1");
  expect_error([] { LrSchedule::constant().with_warmup(0, 0.1); }, "warm-up: 0 iterations");
  expect_error([] { LrSchedule::constant().with_warmup(5, 0); }, "start factor 0");
  expect_error([] { LrSchedule::constant().with_warmup(5, 1.5); }, "start factor 1.5");
  expect_error([] { LrSchedule::constant().with_warmup(5, 0.1).with_warmup(5, 0.1); }, "already has one");
  expect_error([] { LrSchedule::constant().lr(-1, 0.1); }, "iteration -1");
}

}  // namespace
}  // namespace lpt::optim
