#include "optimizers/lns_madam.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "core/philox.h"
#include "optimizers/madam_common.h"

namespace lpt::optim {

namespace {

struct NormalizeScalars {
  float beta, one_minus_beta;
  float bias_correction;  // 1 − β^t
  float g_bound;
};

float normalized(float g, float& v, const NormalizeScalars& s) {
  return detail::madam_normalized_gradient(g, v, s.beta, s.one_minus_beta, s.bias_correction, s.g_bound);
}

// fp32 master weights: w ← clamp(fl32(w · 2^(−η_t·sign(w)·r)), ±bound), the factor in double.
void fp32_master_kernel(float* w, const float* g, float* v, int64_t n, const NormalizeScalars s, double lr,
                        float bound) {
#pragma omp parallel for simd schedule(static) if (n >= detail::kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) {
    const double r = std::nearbyint(normalized(g[i], v[i], s));
    const double signed_r = w[i] > 0 ? r : -r;  // a zero stays zero whatever the sign
    w[i] = std::clamp(float(double(w[i]) * std::exp2(-lr * signed_r)), -bound, bound);
  }
}

struct Lns16Scalars {
  double step_scale;  // γ_U·η_t: the code step per unit of r
  double bound;
  const double* pow;  // 2^(−k/γ_U)
};

// One element of the lns16 update, `u` the uniform draw of stochastic rounding (unused for
// nearest). Codes are read through double so that even a corrupt loaded code stays in range.
inline void lns16_update(float& w, float g, float& v, int32_t& code, const NormalizeScalars& s,
                         const Lns16Scalars& m, bool stochastic, float u) {
  const float g_normed = normalized(g, v, s);
  const int32_t c = code;
  if (c == 0) {
    w = std::copysign(0.0f, w);  // a zero stays zero
    return;
  }
  const double sign = c > 0 ? 1.0 : -1.0;
  const double x = m.step_scale * double(std::nearbyint(g_normed));
  double step = std::nearbyint(x);
  if (stochastic) {
    const double low = std::floor(x);
    step = double(u) < x - low ? low + 1 : low;
  }
  const double k = std::clamp(std::abs(double(c)) - 1 + sign * step, 0.0, double(kLnsMasterKmax));
  code = int32_t(sign * (k + 1));
  w = float(sign * m.bound * m.pow[int64_t(k)]);
}

void lns16_kernel(float* w, const float* g, float* v, int32_t* code, int64_t n, const NormalizeScalars s,
                  const Lns16Scalars m) {
#pragma omp parallel for simd schedule(static) if (n >= detail::kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) lns16_update(w[i], g[i], v[i], code[i], s, m, false, 0);
}

// Element i draws RandomStream::uniform(i); four elements share one Philox block.
void lns16_stochastic_kernel(float* w, const float* g, float* v, int32_t* code, int64_t n, const NormalizeScalars s,
                             const Lns16Scalars m, const RandomStream& stream) {
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (n >= detail::kParallelMinElements)
  for (int64_t b = 0; b < blocks; ++b) {
    const std::array<uint32_t, 4> bits = stream.bits4(uint64_t(b));
    for (int64_t j = 0; j < 4 && 4 * b + j < n; ++j) {
      const int64_t i = 4 * b + j;
      lns16_update(w[i], g[i], v[i], code[i], s, m, true, uniform01(bits[size_t(j)]));
    }
  }
}

// The master copy of fresh weights: sign(w)·(k + 1), k = clamp(RNE(−γ·log2(|w|/bound)), 0, kmax).
void initial_codes(const float* w, int32_t* code, int64_t n, double bound, double gamma) {
#pragma omp parallel for schedule(static) if (n >= detail::kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) {
    if (w[i] == 0) {
      code[i] = 0;
      continue;
    }
    const double t = -gamma * std::log2(std::abs(double(w[i])) / bound);
    const double k = std::clamp(std::nearbyint(t), 0.0, double(kLnsMasterKmax));
    code[i] = int32_t(w[i] > 0 ? k + 1 : -(k + 1));
  }
}

void check_options(const LnsMadamOptions& o, size_t group) {
  LPT_CHECK(std::isfinite(o.lr) && o.lr > 0, "LNS-Madam: group ", group, ": learning rate ", o.lr,
            ", expected a finite value > 0");
  LPT_CHECK(std::isfinite(o.p_scale) && o.p_scale > 0, "LNS-Madam: group ", group, ": p_scale ", o.p_scale,
            ", expected a finite value > 0");
  LPT_CHECK(std::isfinite(o.g_bound) && o.g_bound > 0, "LNS-Madam: group ", group, ": g_bound ", o.g_bound,
            ", expected a finite value > 0");
  LPT_CHECK(o.beta >= 0 && o.beta < 1, "LNS-Madam: group ", group, ": beta ", o.beta,
            ", expected a value in [0, 1)");
  if (o.master != MasterWeights::lns16) return;
  LPT_CHECK(o.master_gamma >= 1 && o.master_gamma <= (1 << 15) && std::has_single_bit(unsigned(o.master_gamma)),
            "LNS-Madam: group ", group, ": master_gamma ", o.master_gamma,
            ", expected a power of two in [1, 32768] (the lns16 master grid's base factor)");
  LPT_CHECK(o.master_gamma * o.lr >= 1, "LNS-Madam: group ", group, ": master_gamma ", o.master_gamma,
            " times the learning rate ", o.lr, " is ", o.master_gamma * o.lr,
            ", expected >= 1 (a step of r = 1 must move at least one code at the base rate)");
}

}  // namespace

LnsMadam::LnsMadam(std::vector<Variable> params, const LnsMadamOptions& options)
    : LnsMadam(std::vector<ParamGroup<LnsMadamOptions>>{{std::move(params), options}}) {}

LnsMadam::LnsMadam(std::vector<ParamGroup<LnsMadamOptions>> groups)
    : Optimizer("LNS-Madam", detail::group_params(groups), detail::group_lrs(groups)) {
  for (size_t g = 0; g < groups.size(); ++g) {
    const LnsMadamOptions& o = groups[g].options;
    check_options(o, g);
    options_.push_back(o);
    std::vector<double> pow;
    if (o.master == MasterWeights::lns16) {
      pow.resize(size_t(kLnsMasterKmax) + 1);
      for (int32_t k = 0; k <= kLnsMasterKmax; ++k) pow[size_t(k)] = std::exp2(-double(k) / o.master_gamma);
    }
    pow_.push_back(std::move(pow));
  }
}

std::vector<Optimizer::StateSlot> LnsMadam::state_layout(size_t group, const Variable& param) const {
  if (options_[group].master == MasterWeights::fp32) return {{"exp_avg_sq", param.shape()}, {"bound", {1}}};
  return {{"exp_avg_sq", param.shape()},
          {"bound", {1}},
          {"master_gamma", {1}},
          {"master_code", param.shape(), DType::s32}};
}

void LnsMadam::update(size_t group, const Variable& param, const Tensor& grad, ParamState& state) {
  const LnsMadamOptions& o = options_[group];
  const bool lns16 = o.master == MasterWeights::lns16;
  Tensor& w = param.data();
  if (!state.initialized) {
    const float bound = detail::madam_initial_bound(w, o.p_scale);
    LPT_CHECK(std::isfinite(bound), "LNS-Madam: parameter '", param.name(), "': bound (p_scale · RMS) is ", bound,
              ", expected a finite value (NaN or Inf in the weights?)");
    state.tensors = {Tensor::zeros_like(w), Tensor::full({1}, bound)};
    if (lns16) {
      Tensor codes = Tensor::empty_strided(w.shape(), w.strides(), DType::s32);
      initial_codes(w.data<float>(), codes.data<int32_t>(), w.numel(), bound, o.master_gamma);
      state.tensors.push_back(Tensor::full({1}, float(o.master_gamma)));
      state.tensors.push_back(codes);
    }
    state.initialized = true;
  }
  state.step += 1;
  const NormalizeScalars s{float(o.beta), float(1 - o.beta), float(1 - std::pow(o.beta, double(state.step))),
                           float(o.g_bound)};
  const float bound = state.tensors[1].item();
  if (!lns16) {
    fp32_master_kernel(w.data<float>(), grad.data<float>(), state.tensors[0].data<float>(), w.numel(), s, lr(group),
                       bound);
    return;
  }
  const float gamma = state.tensors[2].item();
  LPT_CHECK(gamma == float(o.master_gamma), "LNS-Madam: parameter '", param.name(),
            "': its master codes are on the grid master_gamma = ", gamma, ", this optimizer's master_gamma is ",
            o.master_gamma, " (a checkpoint written with another master_gamma cannot resume)");
  const Lns16Scalars m{double(o.master_gamma) * lr(group), double(bound), pow_[group].data()};
  int32_t* codes = state.tensors[3].data<int32_t>();
  if (o.update_rounding == UpdateRounding::nearest) {
    lns16_kernel(w.data<float>(), grad.data<float>(), state.tensors[0].data<float>(), codes, w.numel(), s, m);
  } else {
    const RandomStream stream = step_stream(o.seed, uint64_t(state.step), stable_hash(param.name().c_str()));
    lns16_stochastic_kernel(w.data<float>(), grad.data<float>(), state.tensors[0].data<float>(), codes, w.numel(),
                            s, m, stream);
  }
}

}  // namespace lpt::optim
