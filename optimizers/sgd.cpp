#include "optimizers/sgd.h"

#include <cmath>

namespace lpt::optim {

namespace {

// Floats as PyTorch 1.13's CPU kernels use them: Python scalars are rounded to float, and
// x.add(y, alpha=a) is fma(y, a, x) (its AVX2 kernel calls fmadd).
struct SgdScalars {
  float weight_decay;
  float momentum;
  float one_minus_dampening;
  float neg_lr;
};

// d = g + wd·p; buf = d on the first step, else buf·μ + (1−dampening)·d;
// d = d + μ·buf (Nesterov) or buf; p = p − lr·d. `buf` is null without momentum.
void sgd_kernel(float* p, const float* g, float* buf, int64_t n, const SgdScalars s, bool decay, bool nesterov,
                bool first_step) {
#pragma omp parallel for simd schedule(static) if (n >= detail::kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) {
    float d = decay ? std::fma(p[i], s.weight_decay, g[i]) : g[i];
    if (buf) {
      const float b = first_step ? d : std::fma(d, s.one_minus_dampening, buf[i] * s.momentum);
      buf[i] = b;
      d = nesterov ? std::fma(b, s.momentum, d) : b;
    }
    p[i] = std::fma(d, s.neg_lr, p[i]);
  }
}

void check_options(const SgdOptions& o, size_t group) {
  LPT_CHECK(o.momentum >= 0 && o.momentum < 1, "SGD: group ", group, ": momentum ", o.momentum,
            ", expected a value in [0, 1)");
  LPT_CHECK(o.dampening >= 0 && o.dampening <= 1, "SGD: group ", group, ": dampening ", o.dampening,
            ", expected a value in [0, 1]");
  LPT_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "SGD: group ", group, ": weight decay ",
            o.weight_decay, ", expected a finite value >= 0");
  LPT_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0), "SGD: group ", group,
            ": Nesterov momentum needs momentum > 0 and dampening 0 (got momentum ", o.momentum, ", dampening ",
            o.dampening, ")");
}

}  // namespace

Sgd::Sgd(std::vector<Variable> params, const SgdOptions& options)
    : Sgd(std::vector<ParamGroup<SgdOptions>>{{std::move(params), options}}) {}

Sgd::Sgd(std::vector<ParamGroup<SgdOptions>> groups)
    : Optimizer("SGD", detail::group_params(groups), detail::group_lrs(groups)) {
  for (size_t g = 0; g < groups.size(); ++g) {
    check_options(groups[g].options, g);
    options_.push_back(groups[g].options);
  }
}

std::vector<Optimizer::StateSlot> Sgd::state_layout(size_t group, const Variable& param) const {
  if (options_[group].momentum == 0) return {};
  return {{"momentum_buffer", param.shape()}};
}

void Sgd::update(size_t group, const Variable& param, const Tensor& grad, ParamState& state) {
  const SgdOptions& o = options_[group];
  const bool first_step = !state.initialized;
  if (o.momentum != 0 && first_step) {
    state.tensors = {Tensor::empty_like(param.data())};
    state.initialized = true;
  }
  const SgdScalars s{float(o.weight_decay), float(o.momentum), float(1 - o.dampening), float(-lr(group))};
  sgd_kernel(param.data().data<float>(), grad.data<float>(),
             o.momentum != 0 ? state.tensors[0].data<float>() : nullptr, param.data().numel(), s,
             o.weight_decay != 0, o.nesterov, first_step);
}

}  // namespace lpt::optim
