#pragma once
// What multiplicative optimizers (Madam, LNS-Madam) guarantee, checked the same way for both.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "core/autograd.h"
#include "tests/support/gradcheck.h"

namespace lpt::testing {

// 50 random weights (every 7th zero, one −0) get 40 steps of random gradients through `step` (which
// the caller binds to an optimizer over `w`): no weight changes sign, zeros stay zero, with
// `nonzero_stays_nonzero` no other weight becomes zero, and most weights move.
inline void expect_signs_kept_and_zeros_fixed(const std::function<std::function<void()>(Variable&)>& bind_step,
                                              bool nonzero_stays_nonzero) {
  Tensor w0 = random_tensor({50}, 3);
  for (int i = 0; i < 50; i += 7) w0.data<float>()[i] = 0;
  w0.data<float>()[1] = -0.0f;
  Variable w(w0.clone(), true, "w");
  const std::function<void()> step = bind_step(w);
  for (int s = 0; s < 40; ++s) {
    w.zero_grad();
    w.accumulate_grad(random_tensor({50}, 100 + uint64_t(s), -3, 3));
    step();
  }
  const std::vector<float> before = w0.to_vector(), after = w.data().to_vector();
  int moved = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(std::signbit(after[i]), std::signbit(before[i])) << i;
    if (before[i] == 0) {
      EXPECT_EQ(after[i], 0.0f) << i;
    } else if (nonzero_stays_nonzero) {
      EXPECT_NE(after[i], 0.0f) << i;
    }
    moved += after[i] != before[i];
  }
  EXPECT_GT(moved, 30);  // the update did something
}

}  // namespace lpt::testing
