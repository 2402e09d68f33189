#include "optimizers/lns_madam.h"

#include "optimizers/madam_common.h"

#include <algorithm>
#include <cmath>

namespace lpt::optim {

namespace {

struct LnsMadamScalars {
  float beta, one_minus_beta;
  float bias_correction;  // 1 − β^t
  float g_bound;
  double lr_ratio;  // lr / base_lr
  double bound;
  double kmax;
};

// The update of one tensor (formula in lns_madam.h). ĝ is computed exactly as Madam computes it
// (optimizers/madam.cpp), in fp32; the code step and the working value in double. Codes are
// read through double so that even a corrupt loaded code cannot index outside `pow`.
void lns_madam_kernel(float* w, const float* g, float* v, int32_t* code, const double* pow, int64_t n,
                      const LnsMadamScalars s) {
#pragma omp parallel for simd schedule(static) if (n >= detail::kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) {
    const float g_normed =
        detail::madam_normalized_gradient(g[i], v[i], s.beta, s.one_minus_beta, s.bias_correction, s.g_bound);
    const int32_t c = code[i];
    if (c == 0) {
      w[i] = std::copysign(0.0f, w[i]);  // a zero stays zero
      continue;
    }
    const double sign = c > 0 ? 1.0 : -1.0;
    const double step = std::nearbyint(s.lr_ratio * double(std::nearbyint(g_normed)));
    const double k = std::clamp(std::abs(double(c)) - 1 + sign * step, 0.0, s.kmax);
    code[i] = int32_t(sign * (k + 1));
    w[i] = float(sign * s.bound * pow[int64_t(k)]);
  }
}

// The master copy of fresh weights: sign(w)·(k + 1), k = clamp(RNE(−γ·log2(|w|/bound)), 0, kmax).
void initial_codes(const float* w, int32_t* code, int64_t n, double bound, double gamma, double kmax) {
#pragma omp parallel for schedule(static) if (n >= detail::kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) {
    if (w[i] == 0) {
      code[i] = 0;
      continue;
    }
    const double t = -gamma * std::log2(std::abs(double(w[i])) / bound);
    const double k = std::clamp(std::nearbyint(t), 0.0, kmax);
    code[i] = int32_t(w[i] > 0 ? k + 1 : -(k + 1));
  }
}

void check_options(const LnsMadamOptions& o, size_t group) {
  LPT_CHECK(std::isfinite(o.lr) && o.lr > 0, "LNS-Madam: group ", group, ": learning rate ", o.lr,
            ", expected a finite value > 0 (the master grid's base factor is 1/lr)");
  LPT_CHECK(std::isfinite(o.p_scale) && o.p_scale > 0, "LNS-Madam: group ", group, ": p_scale ", o.p_scale,
            ", expected a finite value > 0");
  LPT_CHECK(std::isfinite(o.g_bound) && o.g_bound > 0, "LNS-Madam: group ", group, ": g_bound ", o.g_bound,
            ", expected a finite value > 0");
  LPT_CHECK(o.beta >= 0 && o.beta < 1, "LNS-Madam: group ", group, ": beta ", o.beta,
            ", expected a value in [0, 1)");
  LPT_CHECK(o.master_bits >= 1 && o.master_bits <= 16, "LNS-Madam: group ", group, ": master_bits ",
            o.master_bits, ", expected 1..16");
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
    Grid grid{1.0 / o.lr, (int32_t(1) << o.master_bits) - 1, {}};
    grid.pow.resize(size_t(grid.kmax) + 1);
    for (int32_t k = 0; k <= grid.kmax; ++k) grid.pow[size_t(k)] = std::exp2(-double(k) / grid.gamma);
    grids_.push_back(std::move(grid));
  }
}

std::vector<Optimizer::StateSlot> LnsMadam::state_layout(size_t group, const Variable& param) const {
  return {{"exp_avg_sq", param.shape()}, {"bound", {1}}, {"master_code", param.shape(), DType::s32}};
}

void LnsMadam::update(size_t group, const Variable& param, const Tensor& grad, ParamState& state) {
  const LnsMadamOptions& o = options_[group];
  const Grid& grid = grids_[group];
  Tensor& w = param.data();
  if (!state.initialized) {
    const float bound = detail::madam_initial_bound(w, o.p_scale);
    LPT_CHECK(std::isfinite(bound), "LNS-Madam: parameter '", param.name(), "': bound (p_scale · RMS) is ", bound,
              ", expected a finite value (NaN or Inf in the weights?)");
    Tensor codes = Tensor::empty_strided(w.shape(), w.strides(), DType::s32);
    initial_codes(w.data<float>(), codes.data<int32_t>(), w.numel(), bound, grid.gamma, grid.kmax);
    state.tensors = {Tensor::zeros_like(w), Tensor::full({1}, bound), codes};
    state.initialized = true;
  }
  Tensor& codes = state.tensors[2];
  state.step += 1;
  const LnsMadamScalars s{float(o.beta),
                          float(1 - o.beta),
                          float(1 - std::pow(o.beta, double(state.step))),
                          float(o.g_bound),
                          lr(group) / base_lr(group),
                          double(state.tensors[1].item()),
                          double(grid.kmax)};
  lns_madam_kernel(w.data<float>(), grad.data<float>(), state.tensors[0].data<float>(), codes.data<int32_t>(),
                   grid.pow.data(), w.numel(), s);
}

}  // namespace lpt::optim
