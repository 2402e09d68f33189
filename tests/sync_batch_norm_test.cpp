// Synchronised batch norm (core/ops/batch_norm.h with a process sum) in one process: with the
// identity as the process sum it is local batch norm bit for bit — output, running statistics and
// every gradient, with and without the fused ReLU — and its gradients match finite differences. A
// sum that doubles every value is two processes holding the same shard: the normalisation, dx and
// the local dgamma/dbeta are unchanged, and the running variance is unbiased over the doubled
// count. (The `Mpi.` tests run it across two processes.)
#include "core/ops/batch_norm.h"

#include <gtest/gtest.h>

#include <utility>

#include "tests/support/gradcheck.h"

namespace lpt {
namespace {

using ops::BatchNormParams;
using testing::max_abs_diff;
using testing::random_tensor;

const ops::ProcessSum identity = [](double*, int64_t) {};

struct Result {
  Tensor y, dx, dgamma, dbeta, rm, rv;
};

template <class F>
Result run(const F& bn, const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& dy) {
  Variable vx(x.clone(), true), vg(gamma.clone(), true), vb(beta.clone(), true);
  Result r;
  r.rm = Tensor::full({gamma.numel()}, 0.25f);
  r.rv = Tensor::full({gamma.numel()}, 2.0f);
  Variable y = bn(vx, vg, vb, r.rm, r.rv);
  y.backward(dy);
  r.y = y.data();
  r.dx = vx.grad();
  r.dgamma = vg.grad();
  r.dbeta = vb.grad();
  return r;
}

class SyncBatchNorm : public ::testing::TestWithParam<std::tuple<int64_t, bool>> {};

TEST_P(SyncBatchNorm, WithOneProcessItIsBatchNorm) {
  const auto [C, relu] = GetParam();
  BatchNormParams p;
  p.fuse_relu = relu;
  const Tensor x = random_tensor({4, C, 5, 3}, 1, -2.0f, 3.0f, MemoryFormat::channels_last);
  const Tensor gamma = random_tensor({C}, 2, 0.5f, 1.5f), beta = random_tensor({C}, 3, -0.5f, 0.5f);
  const Tensor dy = random_tensor({4, C, 5, 3}, 4, -1.0f, 1.0f, MemoryFormat::channels_last);
  const Result a = run([&](auto&... v) { return ops::batch_norm2d(v..., p); }, x, gamma, beta, dy);
  const Result b = run([&](auto&... v) { return ops::batch_norm2d(v..., p, identity); }, x, gamma, beta, dy);
  for (auto [ta, tb] : {std::pair{a.y, b.y}, {a.rm, b.rm}, {a.rv, b.rv}, {a.dx, b.dx}, {a.dgamma, b.dgamma},
                        {a.dbeta, b.dbeta}})
    EXPECT_EQ(ta.to_vector(), tb.to_vector());

  // Two processes with the same shard: every sum doubles.
  const ops::ProcessSum twice = [](double* d, int64_t n) {
    for (int64_t i = 0; i < n; ++i) d[i] *= 2;
  };
  const Result c = run([&](auto&... v) { return ops::batch_norm2d(v..., p, twice); }, x, gamma, beta, dy);
  EXPECT_EQ(c.y.to_vector(), b.y.to_vector());
  EXPECT_EQ(c.rm.to_vector(), b.rm.to_vector());
  EXPECT_EQ(c.dgamma.to_vector(), b.dgamma.to_vector());
  EXPECT_EQ(c.dbeta.to_vector(), b.dbeta.to_vector());
  EXPECT_LT(max_abs_diff(c.dx, b.dx), 1e-6);
  // running_var = 0.9·2 + 0.1·σ²·n/(n−1): with n doubled (60 → 120 per channel) the unbias factor
  // goes from 60/59 to 120/119.
  const std::vector<float> rv_b = b.rv.to_vector(), rv_c = c.rv.to_vector();
  for (size_t i = 0; i < rv_b.size(); ++i) {
    const double var = (rv_b[i] - 0.9 * 2.0) / 0.1 * 59.0 / 60.0;
    EXPECT_NEAR(rv_c[i], 0.9 * 2.0 + 0.1 * var * 120.0 / 119.0, 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(ChannelsAndRelu, SyncBatchNorm,
                         ::testing::Combine(::testing::Values(int64_t(3), int64_t(16)), ::testing::Bool()));

TEST(SyncBatchNormGrad, GradientsMatchFiniteDifferences) {
  Tensor rm = Tensor::zeros({8}), rv = Tensor::full({8}, 1.0f);
  EXPECT_TRUE(testing::gradcheck(
      [&](const std::vector<Variable>& v) { return ops::batch_norm2d(v[0], v[1], v[2], rm, rv, {}, identity); },
      {random_tensor({2, 8, 3, 3}, 9), random_tensor({8}, 10, 0.5f, 1.5f), random_tensor({8}, 11)}));
}

}  // namespace
}  // namespace lpt
