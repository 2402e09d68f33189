// LNS-Madam (SPEC §5) against a double-precision reference of the integer code update, and its
// invariants: the working weights lie exactly on the master grid after every step, signs never
// change, zeros stay zero, one r = ±1 step is one grid step, resume and thread count change no bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <memory>
#include <span>

#include "core/threads.h"
#include "optimizers/lns_madam.h"
#include "tests/support/gradcheck.h"
#include "tests/support/multiplicative_updates.h"

namespace lpt::optim {
namespace {

using testing::random_tensor;

// fl32(sign · bound · 2^(−k/γ)), computed in double and rounded once.
float grid_value(double sign, float bound, int64_t k, double gamma) {
  return float(sign * double(bound) * std::exp2(-double(k) / gamma));
}

Tensor state_tensor(const Optimizer& opt, const std::string& name) {
  for (const auto& [n, t] : opt.state().tensors)
    if (n == name) return t;
  ADD_FAILURE() << "no state entry " << name;
  return Tensor::zeros({1});
}

std::vector<int32_t> codes_of(const Tensor& t) {
  Tensor c = Tensor::empty(t.shape(), DType::s32);  // logical order, whatever t's layout
  c.copy_from(t);
  return std::vector<int32_t>(c.data<int32_t>(), c.data<int32_t>() + c.numel());
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void set_grad(Variable& w, const Tensor& g) {
  w.zero_grad();
  w.accumulate_grad(g);
}

// The update in double, per element, on codes (SPEC §5 with lns_madam.h's lr rule):
// v ← β·v + (1−β)·g²; ĝ = clamp(g/√(v/(1−β^t)), ±g_bound) (NaN → 0); r = RNE(ĝ);
// k ← clamp(k + sign·RNE((lr/base_lr)·r), 0, kmax); w = fl32(sign·bound·2^(−k/γ)), γ = 1/base_lr.
// The optimizer keeps bound in its fp32 state slot, so the reference rounds it to fp32 once.
struct LnsMadamReference {
  LnsMadamOptions o;
  double gamma;
  int64_t kmax;
  float bound;
  std::vector<double> v, sign;
  std::vector<int64_t> k;
  int t = 0;
  int clamped_low = 0, clamped_high = 0;  // steps that went past k = 0 / k = kmax

  LnsMadamReference(const std::vector<float>& w0, LnsMadamOptions options)
      : o(options), gamma(1 / options.lr), kmax((int64_t(1) << options.master_bits) - 1) {
    double sq = 0;
    for (float x : w0) sq += double(x) * x;
    bound = float(o.p_scale * std::sqrt(sq / double(w0.size())));
    for (float x : w0) {
      sign.push_back(x > 0 ? 1 : (x < 0 ? -1 : 0));
      const double kk = x == 0 ? 0 : std::nearbyint(-gamma * std::log2(std::abs(double(x)) / bound));
      k.push_back(std::clamp<int64_t>(int64_t(kk), 0, kmax));
    }
    v.assign(w0.size(), 0.0);
  }
  void step(const std::vector<float>& g, double lr) {
    ++t;
    for (size_t i = 0; i < k.size(); ++i) {
      v[i] = o.beta * v[i] + (1 - o.beta) * double(g[i]) * g[i];
      double gn = g[i] / std::sqrt(v[i] / (1 - std::pow(o.beta, t)));
      if (std::isnan(gn)) gn = 0;
      gn = std::clamp(gn, -o.g_bound, o.g_bound);
      const int64_t moved = k[i] + int64_t(sign[i] * std::nearbyint(lr / o.lr * std::nearbyint(gn)));
      if (sign[i] != 0) {
        clamped_low += moved < 0;
        clamped_high += moved > kmax;
      }
      k[i] = std::clamp<int64_t>(moved, 0, kmax);
    }
  }
  float value(size_t i) const { return sign[i] == 0 ? 0.0f : grid_value(sign[i], bound, k[i], gamma); }
  int32_t code(size_t i) const { return int32_t(sign[i] * double(k[i] + 1)); }
};

// A small tensor over steps with lr changes, zeros in weights and gradients, 8-bit master codes
// and p_scale = 1 so that codes run into both ends of [0, kmax].
TEST(OptimizerLnsMadam, MatchesDoubleReference) {
  const LnsMadamOptions o{.lr = 1.0 / 128, .p_scale = 1, .master_bits = 8};
  Tensor w0 = random_tensor({6, 7}, 11);
  for (int i = 0; i < 42; i += 9) w0.data<float>()[i] = 0;
  Variable w(w0.clone(), true, "w");
  LnsMadamReference ref(w0.to_vector(), o);
  LnsMadam opt({w}, o);
  // Factors whose products with small r are ties (0.5) or fractions, to pin the step's rounding.
  const double lr_factor[] = {1, 1, 0.5, 0.7, 3, 1.3, 0.25, 1};
  for (int s = 0; s < 8; ++s) {
    // Gradient sizes that vary across steps give |ĝ| well above 1.
    Tensor g = random_tensor({6, 7}, 20 + uint64_t(s), -1, 1);
    for (float& x : std::span(g.data<float>(), 42)) x *= float(std::pow(8.0, s % 3));
    for (int i = s; i < 42; i += 7) g.data<float>()[i] = 0;
    const double lr = o.lr * lr_factor[s];
    opt.set_lr(0, lr);
    set_grad(w, g);
    opt.step();
    ref.step(g.to_vector(), lr);
    const std::vector<float> got = w.data().to_vector();
    const std::vector<int32_t> codes = codes_of(state_tensor(opt, "optimizer.w.master_code"));
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(codes[i], ref.code(i)) << "step " << s << " element " << i;
      ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(ref.value(i)))
          << "step " << s << " element " << i << ": " << got[i] << " vs " << ref.value(i);
    }
  }
  EXPECT_EQ(state_tensor(opt, "optimizer.w.bound").item(), ref.bound);
  EXPECT_EQ(opt.state().scalars.at(0).second, 8);
  EXPECT_GT(ref.clamped_low, 0);  // the test reached both ends of the code range
  EXPECT_GT(ref.clamped_high, 0);
}

// After every step, every weight is the grid value of its master code, and for normal values the
// code recomputed from the fp32 weight is the master's (the grid point is unambiguous).
TEST(OptimizerLnsMadam, WeightsStayExactlyOnTheMasterGrid) {
  const LnsMadamOptions o{.p_scale = 1.5};
  const double gamma = 128;
  Tensor w0 = random_tensor({40, 30}, 5);
  for (int i = 0; i < 1200; i += 13) w0.data<float>()[i] = 0;
  Variable w(w0.clone(), true, "w");
  LnsMadam opt({w}, o);
  // Half the base lr; then 70000× (steps of ≥ 70000 codes) pushes codes to 0 and to kmax = 65535
  // (far below fp32's range), from where later steps bring them back.
  const double lr_factor[] = {1, 1, 0.5, 0.5, 1, 70000, 1, 1, 0.37, 1};
  int at_zero = 0, at_kmax = 0, checked_normal = 0;
  for (int s = 0; s < 10; ++s) {
    Tensor g = random_tensor({40, 30}, 40 + uint64_t(s), -1, 1);
    for (int i = s; i < 1200; i += 11) g.data<float>()[i] = 0;
    opt.set_lr(0, o.lr * lr_factor[s]);
    set_grad(w, g);
    opt.step();
    const float bound = state_tensor(opt, "optimizer.w.bound").item();
    const std::vector<int32_t> codes = codes_of(state_tensor(opt, "optimizer.w.master_code"));
    const std::vector<float> got = w.data().to_vector(), before = w0.to_vector();
    for (size_t i = 0; i < got.size(); ++i) {
      const int32_t c = codes[i];
      ASSERT_EQ(c == 0, before[i] == 0) << "step " << s << " element " << i;
      if (c == 0) {
        ASSERT_EQ(got[i], 0.0f);
        continue;
      }
      const int64_t k = std::abs(int64_t(c)) - 1;
      ASSERT_TRUE(k >= 0 && k <= 65535) << k;
      at_zero += k == 0;
      at_kmax += k == 65535;
      ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(grid_value(c > 0 ? 1 : -1, bound, k, gamma)))
          << "step " << s << " element " << i << " code " << c;
      if (!std::isnormal(got[i])) continue;
      const double k_from_w = std::nearbyint(-gamma * std::log2(std::abs(double(got[i])) / bound));
      ASSERT_EQ(k_from_w, double(k)) << "step " << s << " element " << i;
      ++checked_normal;
    }
  }
  EXPECT_GT(at_zero, 0);
  EXPECT_GT(at_kmax, 0);
  EXPECT_GT(checked_normal, 6000);
}

TEST(OptimizerLnsMadam, NeverChangesSignsNorMovesZeros) {
  std::unique_ptr<LnsMadam> opt;
  testing::expect_signs_kept_and_zeros_fixed(
      [&](Variable& w) {
        opt = std::make_unique<LnsMadam>(std::vector<Variable>{w}, LnsMadamOptions{.lr = 1.0 / 16});
        return [&] { opt->step(); };
      },
      true);
}

// With η = 1/128 an r = ±1 step moves the code by one: |w| is multiplied by 2^(∓1/128) on the grid.
TEST(OptimizerLnsMadam, UnitStepIsOneGridStep) {
  const int n = 64;
  const double gamma = 128;
  Tensor w0 = random_tensor({n}, 9, 0.1f, 1.0f);
  for (int i = 0; i < n; i += 2) w0.data<float>()[i] *= -1;
  Variable w(w0.clone(), true, "w");
  LnsMadam opt({w}, {});
  // A zero gradient (ĝ = 0/0 → 0) only puts the weights on the grid: k0 from the formula.
  set_grad(w, Tensor::zeros({n}));
  opt.step();
  const float bound = state_tensor(opt, "optimizer.w.bound").item();
  const std::vector<float> w_before = w0.to_vector(), w1 = w.data().to_vector();
  const std::vector<int32_t> c1 = codes_of(state_tensor(opt, "optimizer.w.master_code"));
  for (int i = 0; i < n; ++i) {
    const double k0 = std::nearbyint(-gamma * std::log2(std::abs(double(w_before[i])) / bound));
    ASSERT_EQ(std::abs(c1[i]) - 1, int32_t(k0)) << i;
    ASSERT_EQ(w1[i], grid_value(w_before[i] > 0 ? 1 : -1, bound, int64_t(k0), gamma)) << i;
  }
  // Second step: v̂ = g²/(1+β), so ĝ = ±√(1+β) ≈ ±1.41 whatever |g| is: r = sign(g).
  Tensor g = random_tensor({n}, 10, 1e-3f, 10.0f);
  for (int i = 0; i < n; i += 3) g.data<float>()[i] *= -1;
  set_grad(w, g);
  opt.step();
  const std::vector<float> w2 = w.data().to_vector(), gv = g.to_vector();
  const std::vector<int32_t> c2 = codes_of(state_tensor(opt, "optimizer.w.master_code"));
  for (int i = 0; i < n; ++i) {
    const int away = (w1[i] > 0) == (gv[i] > 0) ? 1 : -1;  // +1: the weight shrinks (k grows)
    ASSERT_EQ(std::abs(c2[i]) - std::abs(c1[i]), away) << i;
    const int64_t k2 = std::abs(c2[i]) - 1;
    ASSERT_EQ(w2[i], grid_value(w1[i] > 0 ? 1 : -1, bound, k2, gamma)) << i;
    EXPECT_NEAR(double(w2[i]) / w1[i], std::exp2(-away / gamma), 2.5e-7) << i;
  }
}

// Resume: 3 steps, save, a fresh optimizer over a copy of the weights loads the state; 2 more
// steps on both give the same bits. A channels-last weight checks that the master codes (laid out
// contiguously by load_state) still pair with the right elements.
TEST(OptimizerLnsMadam, ResumeIsBitExact) {
  auto make_params = [] {
    return std::vector<Variable>{
        Variable(random_tensor({4, 3, 3, 3}, 1, -1, 1, MemoryFormat::channels_last), true, "conv.weight"),
        Variable(random_tensor({5, 6}, 2), true, "fc.weight")};
  };
  auto make_opt = [](const std::vector<Variable>& p) {
    return std::make_unique<LnsMadam>(
        std::vector<ParamGroup<LnsMadamOptions>>{{{p[0]}, {}}, {{p[1]}, {.lr = 1.0 / 64, .p_scale = 2}}});
  };
  auto run_step = [](std::vector<Variable>& p, LnsMadam& opt, int s) {
    opt.set_lr(0, opt.base_lr(0) * (1 - 0.15 * s));
    for (size_t i = 0; i < p.size(); ++i)
      set_grad(p[i], random_tensor(p[i].shape(), 100 + 10 * uint64_t(s) + i));
    opt.step();
  };
  std::vector<Variable> a = make_params();
  auto opt_a = make_opt(a);
  for (int s = 0; s < 3; ++s) run_step(a, *opt_a, s);
  OptimizerState saved = opt_a->state();
  std::vector<Variable> b = make_params();
  for (size_t i = 0; i < a.size(); ++i) b[i].data().copy_from(a[i].data());
  auto opt_b = make_opt(b);
  opt_b->load_state(saved);
  for (int s = 3; s < 5; ++s) {
    run_step(a, *opt_a, s);
    run_step(b, *opt_b, s);
  }
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(same_bits(a[i].data().to_vector(), b[i].data().to_vector())) << a[i].name();
  const OptimizerState sa = opt_a->state(), sb = opt_b->state();
  ASSERT_EQ(sa.tensors.size(), 6u);
  ASSERT_EQ(sb.tensors.size(), 6u);
  for (size_t i = 0; i < sa.tensors.size(); ++i) {
    const auto& [name, t] = sa.tensors[i];
    EXPECT_EQ(name, sb.tensors[i].first);
    if (t.dtype() == DType::s32) {
      EXPECT_EQ(codes_of(t), codes_of(sb.tensors[i].second)) << name;
    } else {
      EXPECT_TRUE(same_bits(t.to_vector(), sb.tensors[i].second.to_vector())) << name;
    }
  }
  EXPECT_EQ(sa.scalars, sb.scalars);
}

TEST(OptimizerLnsMadam, StateNames) {
  Variable w(random_tensor({3, 2}, 4), true, "fc.weight");
  set_grad(w, random_tensor({3, 2}, 5));
  LnsMadam opt({w}, {});
  opt.step();
  const OptimizerState s = opt.state();
  ASSERT_EQ(s.tensors.size(), 3u);
  EXPECT_EQ(s.tensors[0].first, "optimizer.fc.weight.exp_avg_sq");
  EXPECT_EQ(s.tensors[1].first, "optimizer.fc.weight.bound");
  EXPECT_EQ(s.tensors[2].first, "optimizer.fc.weight.master_code");
  EXPECT_EQ(s.tensors[2].second.dtype(), DType::s32);
  EXPECT_EQ(s.scalars, (std::vector<std::pair<std::string, int64_t>>{{"optimizer.fc.weight.step", 1}}));
  EXPECT_STREQ(opt.name(), "LNS-Madam");
}

// A tensor large enough to run on several threads: the same bits as on one.
TEST(OptimizerLnsMadam, ThreadCountDoesNotChangeResults) {
  const int threads = num_threads();
  std::vector<std::vector<float>> weights;
  std::vector<std::vector<int32_t>> codes;
  for (int t : {1, 2}) {
    set_num_threads(t);
    Tensor w0 = random_tensor({300, 200}, 7);
    for (int i = 0; i < 60000; i += 17) w0.data<float>()[i] = 0;
    Variable w(w0, true, "w");
    LnsMadam opt({w}, {});
    for (int s = 0; s < 3; ++s) {
      opt.set_lr(0, opt.base_lr(0) * (s == 1 ? 0.5 : 1));
      set_grad(w, random_tensor({300, 200}, 8 + uint64_t(s)));
      opt.step();
    }
    weights.push_back(w.data().to_vector());
    codes.push_back(codes_of(state_tensor(opt, "optimizer.w.master_code")));
  }
  set_num_threads(threads);
  EXPECT_TRUE(same_bits(weights[0], weights[1]));
  EXPECT_EQ(codes[0], codes[1]);
}

TEST(OptimizerLnsMadam, BadOptions) {
  const std::vector<Variable> p{Variable(Tensor::zeros({3}), true, "w")};
  auto message = [&](const LnsMadamOptions& o) -> std::string {
    try {
      LnsMadam opt(p, o);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(message({.lr = 0}).find("learning rate 0"), std::string::npos);
  EXPECT_NE(message({.p_scale = -1}).find("p_scale -1"), std::string::npos);
  EXPECT_NE(message({.g_bound = 0}).find("g_bound 0"), std::string::npos);
  EXPECT_NE(message({.beta = 1}).find("beta 1"), std::string::npos);
  EXPECT_NE(message({.master_bits = 17}).find("master_bits 17"), std::string::npos);
  EXPECT_NE(message({.master_bits = 0}).find("LNS-Madam"), std::string::npos);
  Variable bad(Tensor::from_vector({2}, {1.0f, std::nanf("")}), true, "bad");
  set_grad(bad, Tensor::zeros({2}));
  LnsMadam opt({bad}, {});
  try {
    opt.step();
    ADD_FAILURE() << "no error for NaN weights";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'bad'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lpt::optim
