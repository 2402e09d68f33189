#pragma once
// Parameter initialisers with PyTorch's distributions. Values are drawn from a Philox stream keyed
// by (seed, parameter name), so initialisation is reproducible and independent of thread count.
#include <string>

#include "core/tensor.h"

namespace lpt::init {

// U(-bound, bound).
void uniform(Tensor& t, float bound, uint64_t seed, const std::string& name);
// N(0, std^2) (Box-Muller on the same stream).
void normal(Tensor& t, float std, uint64_t seed, const std::string& name);
// PyTorch's default for conv and linear weights: kaiming_uniform_(a = sqrt(5)), i.e.
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)); biases use the same bound.
float default_bound(int64_t fan_in);
// torchvision's kaiming_normal_(mode="fan_out", nonlinearity="relu"): std = sqrt(2 / fan_out).
void kaiming_normal_fan_out(Tensor& t, int64_t fan_out, uint64_t seed, const std::string& name);

}  // namespace lpt::init
