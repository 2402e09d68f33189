#pragma once
// Test helpers: seeded random tensors and the central finite-difference gradient check that every
// differentiable op's test uses.
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "core/autograd.h"

namespace lpt::testing {

// Values uniform in [lo, hi) from a fixed seed, in the given memory format.
Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f,
                     MemoryFormat mf = MemoryFormat::contiguous);

struct GradcheckOptions {
  double eps = 1e-2;   // central-difference step
  double atol = 2e-3;  // |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 2e-2;
  std::vector<bool> check;  // which inputs to check (default: all)
};

// Compares the autograd gradient of L = sum_j r_j * f(inputs)_j (r: fixed random weights) with
// central differences of L, computed in double from f's fp32 outputs, for every element of every
// checked input. f must be deterministic.
::testing::AssertionResult gradcheck(const std::function<Variable(const std::vector<Variable>&)>& f,
                                     const std::vector<Tensor>& inputs, const GradcheckOptions& opt = {});

// max |a - b| over two same-shape tensors (any layouts), for forward checks against naive loops.
double max_abs_diff(const Tensor& a, const Tensor& b);

}  // namespace lpt::testing
