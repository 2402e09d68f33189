#include "optimizers/adam.h"

#include <cmath>

namespace lpt::optim {

namespace {

// Floats as PyTorch 1.13's CPU kernels use them (Python scalars rounded to float). Its AVX2
// kernels, built by GCC, compute x.add(y, alpha=a) as fma(y, a, x) and x.addcmul(y, z, value=c)
// as fma(c·y, z, x); x.addcdiv(y, z, value=c) is x + (c·y)/z.
struct AdamScalars {
  float weight_decay;  // Adam's coupled decay, 0 for AdamW
  float beta1, one_minus_beta1;
  float beta2, one_minus_beta2;
  float bias_correction2_sqrt;
  float eps;
  float neg_step_size;  // −lr / (1 − β1^t)
};

// g' = g + wd·p; m = β1·m + (1−β1)·g'; v = β2·v + (1−β2)·g'²; v_max = max(v_max, v) (AMSGrad);
// p = p − step_size · m / (√v / √(1−β2^t) + eps). `v_max` is unused without AMSGrad.
// (Compile-time flags: GCC does not vectorise the loop with a run-time choice in it.)
template <bool kDecay, bool kAmsgrad>
void adam_kernel(float* p, const float* g, float* m, float* v, float* v_max, int64_t n, const AdamScalars s) {
#pragma omp parallel for simd schedule(static) if (n >= detail::kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) {
    const float pi = p[i];
    const float gi = kDecay ? std::fma(pi, s.weight_decay, g[i]) : g[i];
    m[i] = std::fma(gi, s.one_minus_beta1, m[i] * s.beta1);
    v[i] = std::fma(s.one_minus_beta2 * gi, gi, v[i] * s.beta2);
    float second = v[i];
    if constexpr (kAmsgrad) {  // torch.maximum: NaN wins
      const float old = v_max[i];
      second = old >= second || std::isnan(old) ? old : second;
      v_max[i] = second;
    }
    const float denom = std::sqrt(second) / s.bias_correction2_sqrt + s.eps;
    p[i] = pi + (s.neg_step_size * m[i]) / denom;
  }
}

// AdamW's p ← p·(1 − lr·wd), a pass of its own as in PyTorch (which also keeps the compiler from
// fusing this product into the update's addition).
void decay_kernel(float* p, int64_t n, float factor) {
#pragma omp parallel for simd schedule(static) if (n >= detail::kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) p[i] = p[i] * factor;
}

void check_options(const char* opt, const AdamOptions& o, size_t group) {
  LPT_CHECK(o.beta1 >= 0 && o.beta1 < 1, opt, ": group ", group, ": beta1 ", o.beta1, ", expected a value in [0, 1)");
  LPT_CHECK(o.beta2 >= 0 && o.beta2 < 1, opt, ": group ", group, ": beta2 ", o.beta2, ", expected a value in [0, 1)");
  LPT_CHECK(std::isfinite(o.eps) && o.eps >= 0, opt, ": group ", group, ": eps ", o.eps,
            ", expected a finite value >= 0");
  LPT_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0, opt, ": group ", group, ": weight decay ",
            o.weight_decay, ", expected a finite value >= 0");
}

}  // namespace

Adam::Adam(std::vector<Variable> params, const AdamOptions& options)
    : Adam(std::vector<ParamGroup<AdamOptions>>{{std::move(params), options}}, false) {}

Adam::Adam(std::vector<ParamGroup<AdamOptions>> groups) : Adam(std::move(groups), false) {}

Adam::Adam(std::vector<ParamGroup<AdamOptions>> groups, bool decoupled_weight_decay)
    : Optimizer(decoupled_weight_decay ? "AdamW" : "Adam", detail::group_params(groups), detail::group_lrs(groups)),
      decoupled_(decoupled_weight_decay) {
  for (size_t g = 0; g < groups.size(); ++g) {
    check_options(name(), groups[g].options, g);
    options_.push_back(groups[g].options);
  }
}

AdamW::AdamW(std::vector<Variable> params, const AdamOptions& options)
    : Adam(std::vector<ParamGroup<AdamOptions>>{{std::move(params), options}}, true) {}

AdamW::AdamW(std::vector<ParamGroup<AdamOptions>> groups) : Adam(std::move(groups), true) {}

std::vector<Optimizer::StateSlot> Adam::state_layout(size_t group, const Variable& param) const {
  std::vector<StateSlot> slots{{"exp_avg", param.shape()}, {"exp_avg_sq", param.shape()}};
  if (options_[group].amsgrad) slots.push_back({"max_exp_avg_sq", param.shape()});
  return slots;
}

void Adam::update(size_t group, const Variable& param, const Tensor& grad, ParamState& state) {
  const AdamOptions& o = options_[group];
  Tensor& p = param.data();
  if (!state.initialized) {
    for (size_t s = 0; s < state_layout(group, param).size(); ++s) state.tensors.push_back(Tensor::zeros_like(p));
    state.initialized = true;
  }
  state.step += 1;
  const double lr = this->lr(group);
  // Python's double arithmetic, one rounding per operation. `volatile` keeps the compiler from
  // contracting lr·wd into the subtraction (an FMA would round once).
  if (decoupled_) {
    const volatile double lr_wd = lr * o.weight_decay;
    decay_kernel(p.data<float>(), p.numel(), float(1 - lr_wd));
  }
  const double bias_correction1 = 1 - std::pow(o.beta1, double(state.step));
  const double bias_correction2 = 1 - std::pow(o.beta2, double(state.step));
  const double step_size = lr / bias_correction1;
  const AdamScalars s{decoupled_ ? 0.0f : float(o.weight_decay),
                      float(o.beta1),
                      float(1 - o.beta1),
                      float(o.beta2),
                      float(1 - o.beta2),
                      float(std::sqrt(bias_correction2)),
                      float(o.eps),
                      float(-step_size)};
  using Kernel = void (*)(float*, const float*, float*, float*, float*, int64_t, AdamScalars);
  constexpr Kernel kernels[2][2] = {{adam_kernel<false, false>, adam_kernel<false, true>},
                                    {adam_kernel<true, false>, adam_kernel<true, true>}};
  kernels[s.weight_decay != 0][o.amsgrad](p.data<float>(), grad.data<float>(), state.tensors[0].data<float>(),
                                          state.tensors[1].data<float>(),
                                          o.amsgrad ? state.tensors[2].data<float>() : nullptr, p.numel(), s);
}

}  // namespace lpt::optim
