#include "optimizers/madam.h"

#include "optimizers/madam_common.h"

#include <algorithm>
#include <cmath>

namespace lpt::optim {

namespace {

struct MadamScalars {
  float beta, one_minus_beta;
  float bias_correction;  // 1 − β^t
  float g_bound;
  float neg_lr;
  float bound;
};

// The SPEC §5 update of one tensor (formula in madam.h).
void madam_kernel(float* w, const float* g, float* v, int64_t n, const MadamScalars s) {
#pragma omp parallel for simd schedule(static) if (n >= detail::kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) {
    const float g_normed =
        detail::madam_normalized_gradient(g[i], v[i], s.beta, s.one_minus_beta, s.bias_correction, s.g_bound);
    const float sign = float((w[i] > 0) - (w[i] < 0));
    const float scaled = w[i] * std::exp(s.neg_lr * g_normed * sign);
    w[i] = std::clamp(scaled, -s.bound, s.bound);
  }
}

void check_options(const MadamOptions& o, size_t group) {
  LPT_CHECK(std::isfinite(o.p_scale) && o.p_scale > 0, "Madam: group ", group, ": p_scale ", o.p_scale,
            ", expected a finite value > 0");
  LPT_CHECK(std::isfinite(o.g_bound) && o.g_bound > 0, "Madam: group ", group, ": g_bound ", o.g_bound,
            ", expected a finite value > 0");
  LPT_CHECK(o.beta >= 0 && o.beta < 1, "Madam: group ", group, ": beta ", o.beta, ", expected a value in [0, 1)");
}

}  // namespace

Madam::Madam(std::vector<Variable> params, const MadamOptions& options)
    : Madam(std::vector<ParamGroup<MadamOptions>>{{std::move(params), options}}) {}

Madam::Madam(std::vector<ParamGroup<MadamOptions>> groups)
    : Optimizer("Madam", detail::group_params(groups), detail::group_lrs(groups)) {
  for (size_t g = 0; g < groups.size(); ++g) {
    check_options(groups[g].options, g);
    options_.push_back(groups[g].options);
  }
}

std::vector<Optimizer::StateSlot> Madam::state_layout(size_t group, const Variable& param) const {
  return {{"exp_avg_sq", param.shape()}, {"bound", {1}}};
}

void Madam::update(size_t group, const Variable& param, const Tensor& grad, ParamState& state) {
  const MadamOptions& o = options_[group];
  Tensor& w = param.data();
  if (!state.initialized) {
    state.tensors = {Tensor::zeros_like(w), Tensor::full({1}, detail::madam_initial_bound(w, o.p_scale))};
    state.initialized = true;
  }
  state.step += 1;
  const MadamScalars s{float(o.beta),
                       float(1 - o.beta),
                       float(1 - std::pow(o.beta, double(state.step))),
                       float(o.g_bound),
                       float(-lr(group)),
                       state.tensors[1].item()};
  madam_kernel(w.data<float>(), grad.data<float>(), state.tensors[0].data<float>(), w.numel(), s);
}

}  // namespace lpt::optim
