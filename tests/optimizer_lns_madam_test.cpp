// LNS-Madam (SPEC §5, amended) against double-precision references: the fp32 master mode is the
// reference implementation's update p ← p·2^(−η_t·round(ĝ)·sign(p)); the lns16 mode's integer code
// step Δk = ρ(γ_U·η_t·r). Invariants: lns16 weights lie exactly on the master grid after every
// step, a cosine schedule anneals the step instead of freezing weights, stochastic update rounding
// is unbiased, signs never change, zeros stay zero, resume and thread count change no bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <memory>
#include <span>

#include "core/threads.h"
#include "optimizers/lns_madam.h"
#include "optimizers/schedule.h"
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

// Madam's normalised gradient rounded, in double: v ← β·v + (1−β)·g²;
// r = RNE(clamp(g/√(v/(1−β^t)), ±g_bound)) (NaN → 0).
struct RoundedGradient {
  double beta, g_bound;
  std::vector<double> v;
  int t = 0;
  std::vector<double> next(const std::vector<float>& g) {
    if (v.empty()) v.assign(g.size(), 0.0);
    ++t;
    std::vector<double> r(g.size());
    for (size_t i = 0; i < g.size(); ++i) {
      v[i] = beta * v[i] + (1 - beta) * double(g[i]) * g[i];
      double gn = g[i] / std::sqrt(v[i] / (1 - std::pow(beta, t)));
      if (std::isnan(gn)) gn = 0;
      r[i] = std::nearbyint(std::clamp(gn, -g_bound, g_bound));
    }
    return r;
  }
};

float rms_bound(const std::vector<float>& w0, double p_scale) {
  double sq = 0;
  for (float x : w0) sq += double(x) * x;
  return float(p_scale * std::sqrt(sq / double(w0.size())));
}

// The lns16 update in double, per element, on codes:
// k ← clamp(k + sign·RNE(γ_U·η_t·r), 0, 2^15 − 1); w = fl32(sign·bound·2^(−k/γ_U)).
// The optimizer keeps bound in its fp32 state slot, so the reference rounds it to fp32 once.
struct Lns16Reference {
  LnsMadamOptions o;
  RoundedGradient rounded{o.beta, o.g_bound, {}};
  float bound;
  std::vector<double> sign;
  std::vector<int64_t> k;
  int clamped_low = 0, clamped_high = 0;  // steps that went past k = 0 / k = kmax

  Lns16Reference(const std::vector<float>& w0, LnsMadamOptions options)
      : o(options), bound(rms_bound(w0, options.p_scale)) {
    for (float x : w0) {
      sign.push_back(x > 0 ? 1 : (x < 0 ? -1 : 0));
      const double kk = x == 0 ? 0 : std::nearbyint(-o.master_gamma * std::log2(std::abs(double(x)) / bound));
      k.push_back(std::clamp<int64_t>(int64_t(kk), 0, kLnsMasterKmax));
    }
  }
  void step(const std::vector<float>& g, double lr) {
    const std::vector<double> r = rounded.next(g);
    for (size_t i = 0; i < k.size(); ++i) {
      const int64_t moved = k[i] + int64_t(sign[i] * std::nearbyint(o.master_gamma * lr * r[i]));
      if (sign[i] != 0) {
        clamped_low += moved < 0;
        clamped_high += moved > kLnsMasterKmax;
      }
      k[i] = std::clamp<int64_t>(moved, 0, kLnsMasterKmax);
    }
  }
  float value(size_t i) const { return sign[i] == 0 ? 0.0f : grid_value(sign[i], bound, k[i], o.master_gamma); }
  int32_t code(size_t i) const { return int32_t(sign[i] * double(k[i] + 1)); }
};

// A small tensor over steps with lr changes (ties, fractions, and a rate 20000× the base that runs
// codes past kmax), zeros in weights and gradients, and p_scale = 1 so that codes also run into 0.
TEST(OptimizerLnsMadam, Lns16MatchesDoubleReference) {
  const LnsMadamOptions o{.lr = 1.0 / 128, .p_scale = 1, .master_gamma = 128};
  Tensor w0 = random_tensor({6, 7}, 11);
  for (int i = 0; i < 42; i += 9) w0.data<float>()[i] = 0;
  Variable w(w0.clone(), true, "w");
  Lns16Reference ref(w0.to_vector(), o);
  LnsMadam opt({w}, o);
  // γ_U·η_t·r with small r: ties (0.5), fractions, and steps of thousands of codes.
  const double lr_factor[] = {1, 1, 0.5, 0.7, 20000, 1.3, 0.25, 1, 20000, 0.1};
  for (int s = 0; s < 10; ++s) {
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
  EXPECT_EQ(state_tensor(opt, "optimizer.w.master_gamma").item(), 128.0f);
  EXPECT_EQ(opt.state().scalars.at(0).second, 10);
  EXPECT_GT(ref.clamped_low, 0);  // the test reached both ends of the code range
  EXPECT_GT(ref.clamped_high, 0);
}

// fp32 master weights, step by step on hand-made tensors, under a changing rate: bit for bit
// clamp(fl32(w·2^(−η_t·sign(w)·r)), ±bound) with the factor in double, and within 1 ulp of the
// reference implementation's fp32 arithmetic p·2^(−η_t·r·sign(p)) (clamp included).
TEST(OptimizerLnsMadam, Fp32MasterIsTheReferenceUpdate) {
  const LnsMadamOptions o{.lr = 0.05, .p_scale = 1.2, .master = MasterWeights::fp32};
  Tensor w0 = Tensor::from_vector({2, 4}, {0.5f, -0.25f, 0.0f, 1.5f, -2.0f, 0.125f, -0.0f, 0.75f});
  Variable w(w0.clone(), true, "w");
  LnsMadam opt({w}, o);
  RoundedGradient rounded{o.beta, o.g_bound, {}};
  const float bound = rms_bound(w0.to_vector(), o.p_scale);
  std::vector<float> expect = w0.to_vector();
  int clamped = 0;
  const double lrs[] = {0.05, 0.05, 0.03, 0.011, 0.2, 0.0};
  for (int s = 0; s < 6; ++s) {
    Tensor g = Tensor::from_vector({2, 4}, {0.3f, -1.0f, 2.0f, -0.5f, 0.7f, float(s % 2 ? 1 : -1), 1.0f, 0.0f});
    for (float& x : std::span(g.data<float>(), 8)) x *= float(1 + 4 * (s % 3));
    opt.set_lr(0, lrs[s]);
    set_grad(w, g);
    opt.step();
    const std::vector<double> r = rounded.next(g.to_vector());
    const std::vector<float> got = w.data().to_vector();
    for (size_t i = 0; i < 8; ++i) {
      const double signed_r = expect[i] > 0 ? r[i] : -r[i];
      const float unclamped = float(double(expect[i]) * std::exp2(-lrs[s] * signed_r));
      clamped += std::abs(unclamped) > bound;
      const float reference_fp32 =
          std::clamp(expect[i] * std::exp2(-float(lrs[s]) * float(r[i]) * (expect[i] > 0 ? 1.0f : -1.0f)), -bound,
                     bound);
      expect[i] = std::clamp(unclamped, -bound, bound);
      ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(expect[i])) << "step " << s << " " << i;
      const float ulp = std::nextafter(std::abs(got[i]), INFINITY) - std::abs(got[i]);
      EXPECT_LE(std::abs(got[i] - reference_fp32), ulp) << "step " << s << " " << i;
    }
  }
  EXPECT_GT(clamped, 0);
  EXPECT_EQ(std::bit_cast<uint32_t>(w.data().to_vector()[6]), std::bit_cast<uint32_t>(-0.0f));  // zeros keep their sign
  EXPECT_EQ(opt.state().tensors.size(), 2u);  // exp_avg_sq and bound: no master codes
}

// Under a cosine schedule a constant gradient gives r = 1 at every step (v̂ = g² exactly), and
// the lns16 code step is RNE(γ_U·η_t): it shrinks in whole codes (units of 1/γ_U octave), never
// grows, and stays at least one code while γ_U·η_t > 1/2 — the schedule anneals, it does not
// freeze. Round 1's grid (γ_U = 1/η₀ = 128) froze every weight as soon as η_t < η₀/2.
TEST(OptimizerLnsMadam, CosineScheduleAnnealsTheLns16Step) {
  const LnsMadamOptions o;  // η₀ = 1/128, γ_U = 2048: 16 codes per r = 1 at η₀
  const int n = 40, steps = 60;
  Tensor w0 = random_tensor({n}, 31, 0.05f, 1.0f);
  for (int i = 0; i < n; i += 2) w0.data<float>()[i] *= -1;
  Variable w(w0.clone(), true, "w");
  LnsMadam opt({w}, o);
  const LrSchedule cosine = LrSchedule::cosine(steps);
  Tensor g = random_tensor({n}, 32, 0.5f, 2.0f);
  for (int i = 0; i < n; i += 3) g.data<float>()[i] *= -1;
  std::vector<int32_t> before;
  int64_t last_step = o.master_gamma, moved_small = 0;
  for (int s = 0; s < steps; ++s) {
    cosine.apply(opt, s);
    set_grad(w, g);
    opt.step();
    const std::vector<int32_t> codes = codes_of(state_tensor(opt, "optimizer.w.master_code"));
    if (!before.empty()) {
      const double x = o.master_gamma * opt.lr(0);
      const int64_t expected = int64_t(std::nearbyint(x));
      for (int i = 0; i < n; ++i) {
        const int64_t dk = std::abs(int64_t(codes[size_t(i)]) - before[size_t(i)]);
        const int64_t k = std::abs(int64_t(codes[size_t(i)])) - 1;
        if (k == 0 || k == kLnsMasterKmax) continue;  // clamped at an end of the grid
        ASSERT_EQ(dk, expected) << "step " << s << " element " << i << ": γ_U·η_t = " << x;
        if (x > 0.5) {
          ASSERT_GE(dk, 1) << "step " << s << " froze element " << i;
        }
        moved_small += dk > 0 && dk < 16;
      }
      ASSERT_LE(expected, last_step) << "step " << s;
      last_step = expected;
    }
    before = codes;
  }
  EXPECT_GT(moved_small, 10 * n);  // many steps were fractions of the base step, none frozen early
}

// Stochastic update rounding: Δk = floor(x) + [u < frac(x)], so over many elements with the same
// x = γ_U·η_t·r the mean step is x (unbiased), each step is floor(x) or floor(x) + 1, and the
// draws depend only on (seed, step, parameter name, element), not on the thread count.
TEST(OptimizerLnsMadam, StochasticUpdateRoundingIsUnbiased) {
  const int threads = num_threads();
  const int64_t n = 200000;
  const double eta = 0.3 / 128;  // x = 2048·η·r = 4.8 for r = 1
  std::vector<std::vector<int32_t>> runs;
  for (int t : {1, 2}) {
    set_num_threads(t);
    Variable w(random_tensor({n}, 41, 0.05f, 1.0f), true, "layer.weight");
    LnsMadam opt({w}, LnsMadamOptions{.update_rounding = UpdateRounding::stochastic, .seed = 7});
    set_grad(w, Tensor::zeros({n}));  // ĝ = 0: only puts the weights on the grid
    opt.step();
    const std::vector<int32_t> c0 = codes_of(state_tensor(opt, "optimizer.layer.weight.master_code"));
    opt.set_lr(0, eta);
    set_grad(w, Tensor::full({n}, -1.0f));  // r = −1 for every element: positive weights grow (k falls)
    opt.step();
    const std::vector<int32_t> c1 = codes_of(state_tensor(opt, "optimizer.layer.weight.master_code"));
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int32_t dk = c0[size_t(i)] - c1[size_t(i)];
      if (c1[size_t(i)] == 1) continue;  // clamped at k = 0
      ASSERT_TRUE(dk == 4 || dk == 5) << i << ": " << dk;
      sum += dk;
    }
    const double mean = sum / double(n);  // few are clamped: p_scale = 3 keeps weights below bound
    EXPECT_NEAR(mean, 4.8, 4 * std::sqrt(0.16 / double(n))) << "threads " << t;
    runs.push_back(c1);
  }
  set_num_threads(threads);
  EXPECT_EQ(runs[0], runs[1]);
}

// After every step, every lns16 weight is the grid value of its master code, and for normal
// values the code recomputed from the fp32 weight is the master's (the grid point is unambiguous).
TEST(OptimizerLnsMadam, WeightsStayExactlyOnTheMasterGrid) {
  const LnsMadamOptions o{.p_scale = 1.5, .master_gamma = 256};
  Tensor w0 = random_tensor({40, 30}, 5);
  for (int i = 0; i < 1200; i += 13) w0.data<float>()[i] = 0;
  Variable w(w0.clone(), true, "w");
  LnsMadam opt({w}, o);
  // Fractions of the base lr; then 20000× (steps of ≥ 40000 codes) pushes codes to 0 and to
  // kmax = 32767 (far below fp32's normal range at γ_U = 256), from where later steps bring them back.
  const double lr_factor[] = {1, 1, 0.5, 0.3, 1, 20000, 1, 1, 0.37, 1};
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
      ASSERT_TRUE(k >= 0 && k <= kLnsMasterKmax) << k;
      at_zero += k == 0;
      at_kmax += k == kLnsMasterKmax;
      ASSERT_EQ(std::bit_cast<uint32_t>(got[i]),
                std::bit_cast<uint32_t>(grid_value(c > 0 ? 1 : -1, bound, k, o.master_gamma)))
          << "step " << s << " element " << i << " code " << c;
      if (!std::isnormal(got[i])) continue;
      const double k_from_w = std::nearbyint(-o.master_gamma * std::log2(std::abs(double(got[i])) / bound));
      ASSERT_EQ(k_from_w, double(k)) << "step " << s << " element " << i;
      ++checked_normal;
    }
  }
  EXPECT_GT(at_zero, 0);
  EXPECT_GT(at_kmax, 0);
  EXPECT_GT(checked_normal, 6000);
}

TEST(OptimizerLnsMadam, NeverChangesSignsNorMovesZeros) {
  for (const MasterWeights master : {MasterWeights::lns16, MasterWeights::fp32}) {
    std::unique_ptr<LnsMadam> opt;
    testing::expect_signs_kept_and_zeros_fixed(
        [&](Variable& w) {
          opt = std::make_unique<LnsMadam>(std::vector<Variable>{w}, LnsMadamOptions{.lr = 1.0 / 16, .master = master});
          return [&] { opt->step(); };
        },
        true);
  }
}

// With η = 1/128 and γ_U = 2048 an r = ±1 step moves the code by 16: |w| is multiplied by
// 2^(∓1/128) on the grid, the reference update's factor.
TEST(OptimizerLnsMadam, UnitStepIsTheReferenceFactor) {
  const int n = 64;
  const double gamma = 2048;
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
    ASSERT_EQ(std::abs(c2[i]) - std::abs(c1[i]), 16 * away) << i;
    const int64_t k2 = std::abs(c2[i]) - 1;
    ASSERT_EQ(w2[i], grid_value(w1[i] > 0 ? 1 : -1, bound, k2, gamma)) << i;
    EXPECT_NEAR(double(w2[i]) / w1[i], std::exp2(-away / 128.0), 2.5e-7) << i;
  }
}

// Resume: 3 steps, save, a fresh optimizer over a copy of the weights loads the state; 2 more
// steps on both give the same bits — for lns16 with nearest and stochastic update rounding and
// for fp32 master weights. A channels-last weight checks that the master codes (laid out
// contiguously by load_state) still pair with the right elements.
TEST(OptimizerLnsMadam, ResumeIsBitExact) {
  auto make_params = [] {
    return std::vector<Variable>{
        Variable(random_tensor({4, 3, 3, 3}, 1, -1, 1, MemoryFormat::channels_last), true, "conv.weight"),
        Variable(random_tensor({5, 6}, 2), true, "fc.weight"),
        Variable(random_tensor({7, 2}, 3), true, "head.weight")};
  };
  auto make_opt = [](const std::vector<Variable>& p) {
    return std::make_unique<LnsMadam>(std::vector<ParamGroup<LnsMadamOptions>>{
        {{p[0]}, {}},
        {{p[1]}, {.lr = 1.0 / 64, .p_scale = 2, .update_rounding = UpdateRounding::stochastic, .seed = 3}},
        {{p[2]}, {.lr = 0.02, .master = MasterWeights::fp32}}});
  };
  auto run_step = [](std::vector<Variable>& p, LnsMadam& opt, int s) {
    for (size_t g = 0; g < opt.num_groups(); ++g) opt.set_lr(g, opt.base_lr(g) * (1 - 0.15 * s));
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
  ASSERT_EQ(sa.tensors.size(), 10u);
  ASSERT_EQ(sb.tensors.size(), 10u);
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

// Codes on one grid never resume on another: the state records γ_U.
TEST(OptimizerLnsMadam, ResumeOnAnotherGridIsAnError) {
  Variable w(random_tensor({3, 2}, 4), true, "fc.weight");
  LnsMadam first({w}, {});
  set_grad(w, random_tensor({3, 2}, 5));
  first.step();
  LnsMadam other({w}, LnsMadamOptions{.master_gamma = 4096});
  other.load_state(first.state());
  try {
    other.step();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'fc.weight'"), std::string::npos) << m;
    EXPECT_NE(m.find("master_gamma = 2048"), std::string::npos) << m;
    EXPECT_NE(m.find("4096"), std::string::npos) << m;
  }
}

TEST(OptimizerLnsMadam, StateNames) {
  Variable w(random_tensor({3, 2}, 4), true, "fc.weight");
  set_grad(w, random_tensor({3, 2}, 5));
  LnsMadam opt({w}, {});
  opt.step();
  const OptimizerState s = opt.state();
  ASSERT_EQ(s.tensors.size(), 4u);
  EXPECT_EQ(s.tensors[0].first, "optimizer.fc.weight.exp_avg_sq");
  EXPECT_EQ(s.tensors[1].first, "optimizer.fc.weight.bound");
  EXPECT_EQ(s.tensors[2].first, "optimizer.fc.weight.master_gamma");
  EXPECT_EQ(s.tensors[3].first, "optimizer.fc.weight.master_code");
  EXPECT_EQ(s.tensors[3].second.dtype(), DType::s32);
  EXPECT_EQ(s.scalars, (std::vector<std::pair<std::string, int64_t>>{{"optimizer.fc.weight.step", 1}}));
  EXPECT_STREQ(opt.name(), "LNS-Madam");
}

// A tensor large enough to run on several threads: the same bits as on one, in every mode.
TEST(OptimizerLnsMadam, ThreadCountDoesNotChangeResults) {
  const int threads = num_threads();
  for (const LnsMadamOptions o : {LnsMadamOptions{}, LnsMadamOptions{.master = MasterWeights::fp32},
                                  LnsMadamOptions{.update_rounding = UpdateRounding::stochastic}}) {
    std::vector<std::vector<float>> weights;
    for (int t : {1, 2}) {
      set_num_threads(t);
      Tensor w0 = random_tensor({300, 200}, 7);
      for (int i = 0; i < 60000; i += 17) w0.data<float>()[i] = 0;
      Variable w(w0, true, "w");
      LnsMadam opt({w}, o);
      for (int s = 0; s < 3; ++s) {
        opt.set_lr(0, opt.base_lr(0) * (s == 1 ? 0.3 : 1));
        set_grad(w, random_tensor({300, 200}, 8 + uint64_t(s)));
        opt.step();
      }
      weights.push_back(w.data().to_vector());
    }
    EXPECT_TRUE(same_bits(weights[0], weights[1]));
  }
  set_num_threads(threads);
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
  EXPECT_NE(message({.master_gamma = 1000}).find("master_gamma 1000, expected a power of two"), std::string::npos);
  EXPECT_NE(message({.master_gamma = 65536}).find("master_gamma 65536"), std::string::npos);
  EXPECT_NE(message({.master_gamma = 64}).find("expected >= 1"), std::string::npos);  // 64/128 < 1
  EXPECT_EQ(message({.master = MasterWeights::fp32, .master_gamma = 64}), "no error");  // fp32 has no grid
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
