// SGD, Adam and AdamW against PyTorch 1.13 (torch.optim, foreach=False, CPU): three steps on a
// 4x5 weight and a 3-element bias; every result must match PyTorch's bit for bit.
//
// Inputs are exact functions of an index, the same in Python and here. Expected values come from
// /usr/bin/python3 running (torch 1.13):
//   import torch, numpy as np
//   O = torch.optim
//   def ugly(k): return float(np.float32(((k * k * 7919 + k * 31 + 7) % 1999 / 997.0 - 1.0)
//                                        * 2.0 ** ((k * 5) % 7 - 3)))
//   def inputs():
//       w = torch.tensor([ugly(k) for k in range(20)]).view(4, 5).requires_grad_()
//       b = torch.tensor([ugly(k) for k in range(20, 23)]).requires_grad_()
//       return w, b
//   def grad(s, n, off): return torch.tensor([2 * ugly(100 * (s + 1) + off + k) for k in range(n)])
//   def run(make, steps=3, skip_b=(), lrs=None):
//       w, b = inputs(); opt = make(w, b)
//       for s in range(steps):
//           if lrs:
//               for g, lr in zip(opt.param_groups, lrs[s]): g['lr'] = lr
//           w.grad = grad(s, 20, 0).view(4, 5)
//           b.grad = None if s in skip_b else grad(s, 3, 20)
//           opt.step()
//       return w.detach().flatten().tolist() + b.detach().tolist()
//   def fmt(v): return '{' + ', '.join('%.9gf' % x for x in v) + '}'
//   print(fmt(run(lambda w, b: O.SGD([w, b], lr=0.1, foreach=False))))  # and so on, as in each test
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <set>

#include "optimizers/adam.h"
#include "optimizers/sgd.h"

namespace lpt::optim {
namespace {

float ugly(int64_t k) {
  const int64_t q = (k * k * 7919 + k * 31 + 7) % 1999;
  return float((double(q) / 997.0 - 1.0) * std::ldexp(1.0, int((k * 5) % 7) - 3));
}

Tensor sequence(const Shape& shape, int64_t offset, float scale) {
  std::vector<float> v(size_t(shape_numel(shape)));
  for (size_t k = 0; k < v.size(); ++k) v[k] = scale * ugly(offset + int64_t(k));
  return Tensor::from_vector(shape, v);
}

struct Problem {
  Variable w{sequence({4, 5}, 0, 1), true, "w"};
  Variable b{sequence({3}, 20, 1), true, "b"};
};

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(Problem&)>;

// Three steps as in the Python snippet; lrs[s][g] (when given) is group g's lr at step s, and b
// gets no gradient at the steps in skip_b.
std::vector<float> run(const MakeOptimizer& make, const std::set<int>& skip_b = {},
                       const std::vector<std::vector<double>>& lrs = {}) {
  Problem pb;
  std::unique_ptr<Optimizer> opt = make(pb);
  for (int s = 0; s < 3; ++s) {
    for (size_t g = 0; g < (lrs.empty() ? 0 : lrs[s].size()); ++g) opt->set_lr(g, lrs[s][g]);
    opt->zero_grad();
    pb.w.accumulate_grad(sequence({4, 5}, 100 * (s + 1), 2));
    if (!skip_b.count(s)) pb.b.accumulate_grad(sequence({3}, 100 * (s + 1) + 20, 2));
    opt->step();
  }
  std::vector<float> out = pb.w.data().to_vector();
  for (float x : pb.b.data().to_vector()) out.push_back(x);
  return out;
}

void expect_bits_equal(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    uint32_t a, b;
    std::memcpy(&a, &got[i], 4);
    std::memcpy(&b, &want[i], 4);
    EXPECT_EQ(a, b) << "element " << i << ": got " << got[i] << ", PyTorch " << want[i];
  }
}

TEST(OptimizerPytorch, InputsAreThePythonOnes) {
  // ugly(k) for k in range(23), printed by the snippet above.
  const std::vector<float> want = {-0.124122366f, 3.86359072f, 0.765295863f, 0.102557674f, -0.794383168f, -1.52657974f, 0.211634904f, -0.0687061176f, 1.31193578f, -0.953861594f, -0.0962888673f, 0.232698098f, 0.577733219f, 0.197091267f, 0.0431293882f, 0.565697074f, -0.21664995f, -0.182296887f, 4.87061167f, -0.425275832f, 0.408224672f, -0.0392427295f, 1.62487459f};
  const Problem pb;
  std::vector<float> got = pb.w.data().to_vector();
  for (float x : pb.b.data().to_vector()) got.push_back(x);
  expect_bits_equal(got, want);
}

std::unique_ptr<Optimizer> sgd(Problem& pb, const SgdOptions& o) { return std::make_unique<Sgd>(std::vector{pb.w, pb.b}, o); }

TEST(OptimizerPytorch, SgdPlain) {
  // O.SGD([w, b], lr=0.1, foreach=False)
  expect_bits_equal(run([](Problem& pb) { return sgd(pb, {.lr = 0.1}); }), std::vector<float>{0.372266829f, 3.51048136f, -0.404112339f, -0.190346077f, -0.375626862f, -1.45165491f, -0.722768307f, -0.755967975f, 1.12637901f, -0.244934812f, -0.0458375104f, 0.55932802f, 1.62647939f, -0.206469417f, 0.923671067f, 0.333299875f, -0.161283866f, -0.0705867559f, 4.3755765f, 0.372567713f, 0.87357074f, 0.950025082f, 1.98337507f});
}

TEST(OptimizerPytorch, SgdMomentum) {
  // O.SGD([w, b], lr=0.1, momentum=0.9, foreach=False)
  expect_bits_equal(run([](Problem& pb) { return sgd(pb, {.lr = 0.1, .momentum = 0.9}); }), std::vector<float>{0.939998031f, 3.19467807f, -2.20777726f, -0.823275328f, -0.0406679511f, -1.45915651f, -1.68093884f, -1.45007825f, 0.976809382f, 2.20227075f, -0.223580748f, 0.886839509f, 1.77224874f, -1.33704829f, 1.73634303f, 0.148885623f, -0.0440040193f, -0.112025581f, 3.95062661f, 0.210166037f, 1.76590681f, 1.77945125f, 2.28484344f});
}

TEST(OptimizerPytorch, SgdDampeningWeightDecay) {
  // O.SGD([w, b], lr=0.05, momentum=0.8, dampening=0.3, weight_decay=1e-2, foreach=False)
  expect_bits_equal(
      run([](Problem& pb) { return sgd(pb, {.lr = 0.05, .momentum = 0.8, .dampening = 0.3, .weight_decay = 1e-2}); }),
      std::vector<float>{0.244993314f, 3.6286931f, -0.56632334f, -0.319182992f, -0.575295389f, -1.50708592f, -0.601298034f, -0.546212852f, 1.20128417f, 0.54715848f, -0.168231949f, 0.473378628f, 0.987906277f, -0.515324175f, 0.64776206f, 0.430133909f, -0.14786309f, -0.163539812f, 4.55499697f, -0.193549529f, 1.01645982f, 0.508062482f, 1.8379519f});
}

TEST(OptimizerPytorch, SgdNesterovWeightDecay) {
  // O.SGD([w, b], lr=0.07, momentum=0.9, nesterov=True, weight_decay=5e-3, foreach=False)
  expect_bits_equal(
      run([](Problem& pb) { return sgd(pb, {.lr = 0.07, .momentum = 0.9, .weight_decay = 5e-3, .nesterov = true}); }),
      std::vector<float>{0.893491089f, 3.18444347f, -1.92581069f, -0.685111761f, -0.0244226418f, -1.42733109f, -1.63395536f, -1.4191252f, 0.967360556f, 1.52980983f, -0.140634879f, 0.872408688f, 2.0626328f, -1.0508064f, 1.72520363f, 0.139005437f, -0.0686631054f, -0.059255302f, 3.93120027f, 0.534894764f, 1.58685935f, 1.79845953f, 2.28674078f});
}

TEST(OptimizerPytorch, SgdParameterGroups) {
  // O.SGD([dict(params=[w], lr=0.1, momentum=0.9, weight_decay=1e-2),
  //        dict(params=[b], lr=0.05, momentum=0.5, nesterov=True)], foreach=False)
  // run with skip_b=(1,), lrs=[(0.1, 0.05), (0.02, 0.05), (0.02, 0.01)]
  const auto make = [](Problem& pb) -> std::unique_ptr<Optimizer> {
    return std::make_unique<Sgd>(std::vector<ParamGroup<SgdOptions>>{
        {{pb.w}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-2}},
        {{pb.b}, {.lr = 0.05, .momentum = 0.5, .nesterov = true}}});
  };
  expect_bits_equal(run(make, {1}, {{0.1, 0.05}, {0.02, 0.05}, {0.02, 0.01}}), std::vector<float>{0.132857189f, 3.71149349f, -0.682611048f, -0.372090995f, -0.721192718f, -1.52852428f, -0.611156702f, -0.395174831f, 1.2511369f, 0.838907242f, -0.203344658f, 0.422322601f, 0.813274622f, -0.629032493f, 0.485414565f, 0.491600156f, -0.152201056f, -0.186493814f, 4.67847824f, -0.292511851f, 0.784212649f, -0.182612836f, 1.62146807f});
}

TEST(OptimizerPytorch, Adam) {
  // O.Adam([w, b], lr=1e-2, foreach=False)
  expect_bits_equal(run([](Problem& pb) { return std::make_unique<Adam>(std::vector{pb.w, pb.b}, AdamOptions{.lr = 1e-2}); }),
                    std::vector<float>{-0.100859031f, 3.83963227f, 0.742965698f, 0.0817152783f, -0.793943882f, -1.52757764f, 0.186871752f, -0.092709586f, 1.30914009f, -0.935622752f, -0.110806845f, 0.259702891f, 0.582390666f, 0.177604824f, 0.0692035407f, 0.562766135f, -0.193504438f, -0.194206774f, 4.86717272f, -0.417301923f, 0.430135548f, -0.0382065326f, 1.62810421f});
}

TEST(OptimizerPytorch, AdamWeightDecayAmsgrad) {
  // O.Adam([w, b], lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True, foreach=False)
  const AdamOptions o{.lr = 3e-3, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1, .amsgrad = true};
  expect_bits_equal(run([&](Problem& pb) { return std::make_unique<Adam>(std::vector{pb.w, pb.b}, o); }),
                    std::vector<float>{-0.117101319f, 3.85582995f, 0.758846998f, 0.0966396779f, -0.794026136f, -1.52495515f, 0.204355344f, -0.0759517998f, 1.30461788f, -0.948738396f, -0.100191131f, 0.240792558f, 0.579359114f, 0.191604733f, 0.0510132983f, 0.564559162f, -0.209756255f, -0.185287818f, 4.86301661f, -0.422740906f, 0.414417952f, -0.0388088115f, 1.625682f});
}

TEST(OptimizerPytorch, AdamW) {
  // O.AdamW([w, b], lr=1e-2, weight_decay=0.05, foreach=False)
  const AdamOptions o{.lr = 1e-2, .weight_decay = 0.05};
  expect_bits_equal(run([&](Problem& pb) { return std::make_unique<AdamW>(std::vector{pb.w, pb.b}, o); }), std::vector<float>{-0.100686975f, 3.83385324f, 0.741831541f, 0.0815750211f, -0.792745888f, -1.52528012f, 0.186567843f, -0.0925925449f, 1.30716658f, -0.93420583f, -0.110649019f, 0.259339422f, 0.581530809f, 0.17732279f, 0.0691245794f, 0.561911464f, -0.193194523f, -0.193919808f, 4.85986423f, -0.41667068f, 0.429509848f, -0.038140934f, 1.62567437f});
}

TEST(OptimizerPytorch, AdamWAmsgrad) {
  // O.AdamW([w, b], lr=2e-2, weight_decay=0.1, amsgrad=True, foreach=False)
  const AdamOptions o{.lr = 2e-2, .weight_decay = 0.1, .amsgrad = true};
  expect_bits_equal(run([&](Problem& pb) { return std::make_unique<AdamW>(std::vector{pb.w, pb.b}, o); }),
                    std::vector<float>{-0.0769647509f, 3.79264951f, 0.716163099f, 0.0603667535f, -0.788692534f, -1.51936495f, 0.160953358f, -0.116189517f, 1.298437f, -0.911780298f, -0.124640122f, 0.285197705f, 0.583639383f, 0.15704599f, 0.0949051157f, 0.556396127f, -0.169180945f, -0.20491609f, 4.83451796f, -0.406832486f, 0.449492931f, -0.0368813202f, 1.62165499f});
}

TEST(OptimizerPytorch, AdamWParameterGroups) {
  // O.AdamW([dict(params=[w], weight_decay=0.05),
  //          dict(params=[b], weight_decay=0.0, lr=3e-2, amsgrad=True)], lr=1e-2, foreach=False)
  // run with skip_b=(1,), lrs=[(1e-2, 3e-2), (5e-3, 3e-2), (5e-3, 1e-2)]
  const auto make = [](Problem& pb) -> std::unique_ptr<Optimizer> {
    return std::make_unique<AdamW>(std::vector<ParamGroup<AdamOptions>>{
        {{pb.w}, {.lr = 1e-2, .weight_decay = 0.05}}, {{pb.b}, {.lr = 3e-2, .amsgrad = true}}});
  };
  expect_bits_equal(run(make, {1}, {{1e-2, 3e-2}, {5e-3, 3e-2}, {5e-3, 1e-2}}), std::vector<float>{-0.107372627f, 3.84275532f, 0.748371542f, 0.0870398283f, -0.798365116f, -1.53054786f, 0.1940476f, -0.0856331587f, 1.31422234f, -0.938794374f, -0.108445734f, 0.250961751f, 0.574488461f, 0.182156876f, 0.0611172765f, 0.568661988f, -0.199866846f, -0.193063676f, 4.86901951f, -0.415867805f, 0.443726301f, -0.0785610378f, 1.59885824f});
}

}  // namespace
}  // namespace lpt::optim
