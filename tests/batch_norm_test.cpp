#include "core/ops/batch_norm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <span>
#include <string>
#include <utility>

#include "core/threads.h"
#include "tests/support/gradcheck.h"

namespace lpt {
namespace {

using ops::BatchNormParams;
using testing::gradcheck;
using testing::max_abs_diff;
using testing::random_tensor;

struct Stats {
  std::vector<double> mean, var;  // var biased
};

// Per-channel batch mean and biased variance of an [N, C, H, W] tensor, in double.
Stats naive_batch_stats(const Tensor& x) {
  const Shape& s = x.shape();
  const int64_t N = s[0], C = s[1], HW = s[2] * s[3];
  const std::vector<float> v = x.to_vector();  // logical NCHW order
  Stats st{std::vector<double>(size_t(C), 0.0), std::vector<double>(size_t(C), 0.0)};
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0, sq = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) sum += v[size_t((n * C + c) * HW + i)];
    const double mean = sum / double(N * HW);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) sq += std::pow(v[size_t((n * C + c) * HW + i)] - mean, 2);
    st.mean[size_t(c)] = mean;
    st.var[size_t(c)] = sq / double(N * HW);
  }
  return st;
}

// y = gamma·(x - mean)/sqrt(var + eps) + beta (then relu), contiguous.
Tensor naive_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Stats& st, float eps,
                        bool relu) {
  const Shape& s = x.shape();
  const int64_t N = s[0], C = s[1], HW = s[2] * s[3];
  const std::vector<float> v = x.to_vector(), g = gamma.to_vector(), b = beta.to_vector();
  std::vector<float> y(v.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) {
        const size_t k = size_t((n * C + c) * HW + i);
        const double inv_std = 1.0 / std::sqrt(st.var[size_t(c)] + eps);
        double r = g[size_t(c)] * (v[k] - st.mean[size_t(c)]) * inv_std + b[size_t(c)];
        y[k] = float(relu ? std::max(r, 0.0) : r);
      }
  return Tensor::from_vector(s, y);
}

Stats stats_of(const Tensor& mean, const Tensor& var) {
  const std::vector<float> m = mean.to_vector(), v = var.to_vector();
  return {std::vector<double>(m.begin(), m.end()), std::vector<double>(v.begin(), v.end())};
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Inputs whose normalised values stay at least ~0.45 away from 0 in every channel: the values
// come in pairs ±m (m in [0.5, 1.5)), so each channel's mean is 0 up to rounding, spread over the
// positions by a fixed permutation. A fused ReLU's kink then lies far from every finite-difference
// step.
Tensor away_from_mean(const Shape& s, uint64_t seed) {
  const int64_t N = s[0], C = s[1], HW = s[2] * s[3], count = N * HW;
  const Tensor u = random_tensor({C, count / 2}, seed, 0.5f, 1.5f);
  const std::vector<float> m = u.to_vector();
  std::vector<float> v(size_t(shape_numel(s)));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t j = 0; j < count; ++j) {
      const int64_t k = (j * 7) % count;  // 7 is coprime to the counts used below
      const float mag = m[size_t(c * (count / 2) + k / 2)];
      v[size_t(((j / HW) * C + c) * HW + j % HW)] = k % 2 ? -mag : mag;
    }
  return Tensor::from_vector(s, v).to(MemoryFormat::channels_last);
}

// C = 32 fills whole vectors, C = 20 leaves a remainder.
class BatchNormTraining : public ::testing::TestWithParam<int64_t> {};

TEST_P(BatchNormTraining, ForwardAndRunningStatsMatchNaiveLoops) {
  const int64_t C = GetParam();
  const Shape s{4, C, 5, 3};
  const Tensor x = random_tensor(s, 1, -2.0f, 3.0f, MemoryFormat::channels_last);
  const Tensor gamma = random_tensor({C}, 2, 0.5f, 1.5f), beta = random_tensor({C}, 3);
  Tensor rm = random_tensor({C}, 4), rv = random_tensor({C}, 5, 0.5f, 2.0f);
  const std::vector<float> rm0 = rm.to_vector(), rv0 = rv.to_vector();
  BatchNormParams p;
  p.momentum = 0.3f;
  const Tensor y = ops::batch_norm2d(Variable(x), Variable(gamma), Variable(beta), rm, rv, p).data();
  EXPECT_TRUE(y.is_channels_last());

  const Stats st = naive_batch_stats(x);
  EXPECT_LT(max_abs_diff(y, naive_batch_norm(x, gamma, beta, st, p.eps, false)), 2e-5);
  const double n = 4 * 5 * 3;
  for (int64_t c = 0; c < C; ++c) {
    const size_t i = size_t(c);
    EXPECT_NEAR(rm.to_vector()[i], 0.7 * rm0[i] + 0.3 * st.mean[i], 1e-6) << "channel " << c;
    EXPECT_NEAR(rv.to_vector()[i], 0.7 * rv0[i] + 0.3 * st.var[i] * n / (n - 1), 1e-5) << "channel " << c;
  }
}

TEST_P(BatchNormTraining, FusedReluMatchesNaiveLoop) {
  const int64_t C = GetParam();
  const Tensor x = random_tensor({3, C, 4, 4}, 6, -1.0f, 1.0f, MemoryFormat::channels_last);
  const Tensor gamma = random_tensor({C}, 7, 0.5f, 1.5f), beta = random_tensor({C}, 8);
  Tensor rm = Tensor::zeros({C}), rv = Tensor::full({C}, 1.0f);
  BatchNormParams p;
  p.fuse_relu = true;
  const Tensor y = ops::batch_norm2d(Variable(x), Variable(gamma), Variable(beta), rm, rv, p).data();
  EXPECT_LT(max_abs_diff(y, naive_batch_norm(x, gamma, beta, naive_batch_stats(x), p.eps, true)), 2e-5);
}

TEST_P(BatchNormTraining, GradientsMatchFiniteDifferences) {
  const int64_t C = GetParam();
  // The running statistics change on every call; in training mode the output does not read
  // them, so they are a side effect the finite differences need not undo.
  Tensor rm = Tensor::zeros({C}), rv = Tensor::full({C}, 1.0f);
  EXPECT_TRUE(gradcheck([&](const std::vector<Variable>& v) { return ops::batch_norm2d(v[0], v[1], v[2], rm, rv, {}); },
                        {away_from_mean({2, C, 3, 3}, 9), random_tensor({C}, 10, 0.5f, 1.5f), random_tensor({C}, 11)}));
}

TEST_P(BatchNormTraining, FusedReluGradientsMatchFiniteDifferences) {
  const int64_t C = GetParam();
  Tensor rm = Tensor::zeros({C}), rv = Tensor::full({C}, 1.0f);
  BatchNormParams p;
  p.fuse_relu = true;
  EXPECT_TRUE(gradcheck(
      [&](const std::vector<Variable>& v) { return ops::batch_norm2d(v[0], v[1], v[2], rm, rv, p); },
      {away_from_mean({2, C, 3, 3}, 12), random_tensor({C}, 13, 0.5f, 1.5f), random_tensor({C}, 14, -0.1f, 0.1f)}));
}

TEST_P(BatchNormTraining, ParameterGradientsWithoutInputGradient) {
  const int64_t C = GetParam();
  Tensor rm = Tensor::zeros({C}), rv = Tensor::full({C}, 1.0f);
  testing::GradcheckOptions opt;
  opt.check = {false, true, true};
  EXPECT_TRUE(gradcheck([&](const std::vector<Variable>& v) { return ops::batch_norm2d(v[0], v[1], v[2], rm, rv, {}); },
                        {random_tensor({2, C, 3, 3}, 15, -1.0f, 1.0f, MemoryFormat::channels_last),
                         random_tensor({C}, 16), random_tensor({C}, 17)},
                        opt));
}

TEST_P(BatchNormTraining, InferenceUsesRunningStatsAndLeavesThemUnchanged) {
  const int64_t C = GetParam();
  const Tensor x = random_tensor({2, C, 3, 4}, 18, -1.0f, 2.0f, MemoryFormat::channels_last);
  const Tensor gamma = random_tensor({C}, 19), beta = random_tensor({C}, 20);
  Tensor rm = random_tensor({C}, 21), rv = random_tensor({C}, 22, 0.5f, 2.0f);
  const std::vector<float> rm0 = rm.to_vector(), rv0 = rv.to_vector();
  for (bool relu : {false, true}) {
    BatchNormParams p;
    p.training = false;
    p.fuse_relu = relu;
    const Tensor y = ops::batch_norm2d(Variable(x), Variable(gamma), Variable(beta), rm, rv, p).data();
    EXPECT_LT(max_abs_diff(y, naive_batch_norm(x, gamma, beta, stats_of(rm, rv), p.eps, relu)), 2e-6);
    EXPECT_EQ(rm.to_vector(), rm0);
    EXPECT_EQ(rv.to_vector(), rv0);
  }
}

TEST_P(BatchNormTraining, InferenceGradientsMatchFiniteDifferences) {
  const int64_t C = GetParam();
  Tensor rm = random_tensor({C}, 23, -0.1f, 0.1f), rv = random_tensor({C}, 24, 0.8f, 1.2f);
  for (bool relu : {false, true}) {
    BatchNormParams p;
    p.training = false;
    p.fuse_relu = relu;
    EXPECT_TRUE(gradcheck(
        [&](const std::vector<Variable>& v) { return ops::batch_norm2d(v[0], v[1], v[2], rm, rv, p); },
        {away_from_mean({2, C, 3, 3}, 25), random_tensor({C}, 26, 0.5f, 1.5f), random_tensor({C}, 27, -0.1f, 0.1f)}))
        << "fuse_relu " << relu;
  }
}

INSTANTIATE_TEST_SUITE_P(Channels, BatchNormTraining, ::testing::Values(20, 32));

// Values computed by PyTorch 1.13 (/usr/bin/python3):
//   x = torch.tensor([0.1*((7*i) % 11) - 0.4 for i in range(24)]).reshape(2,3,2,2)
//   bn = torch.nn.BatchNorm2d(3)  # momentum 0.1, eps 1e-5
//   bn.weight = [1.5, -0.5, 2.0]; bn.bias = [0.1, 0.2, -0.3]
//   bn.running_mean = [0.2, -0.1, 0.05]; bn.running_var = [1.0, 0.5, 2.0]
//   bn.train(); y = bn(x); bn(x * 2); bn.eval(); y3 = bn(x)
TEST(BatchNorm, MatchesPyTorch) {
  std::vector<float> xv(24);
  for (int i = 0; i < 24; ++i) xv[size_t(i)] = float(0.1 * ((7 * i) % 11) - 0.4);
  const Tensor x = Tensor::from_vector({2, 3, 2, 2}, xv).to(MemoryFormat::channels_last);
  const Variable gamma(Tensor::from_vector({3}, {1.5f, -0.5f, 2.0f}));
  const Variable beta(Tensor::from_vector({3}, {0.1f, 0.2f, -0.3f}));
  Tensor rm = Tensor::from_vector({3}, {0.2f, -0.1f, 0.05f}), rv = Tensor::from_vector({3}, {1.0f, 0.5f, 2.0f});
  const BatchNormParams train;
  const Tensor y = ops::batch_norm2d(Variable(x), gamma, beta, rm, rv, train).data();
  const Tensor y_torch = Tensor::from_vector(
      {2, 3, 2, 2}, {-2.50783563f,  0.666920781f, -1.14722574f, 2.02753067f,   0.00545965508f, 0.697158635f,
                     -0.513314605f, 0.178384408f, -2.17399383f, 2.19865823f,   -0.300000012f,  -2.79865813f,
                     0.666920781f,  -1.14722574f, 2.02753067f,  0.213384122f,  0.697158635f,   -0.513314605f,
                     0.178384408f,  0.870083392f, 2.19865823f,  -0.300000012f, -2.79865813f,   1.57399368f});
  EXPECT_LT(max_abs_diff(y, y_torch), 2e-5);
  EXPECT_LT(max_abs_diff(rm, Tensor::from_vector({3}, {0.19749999f, -0.081249997f, 0.0449999981f})), 1e-7);
  EXPECT_LT(max_abs_diff(rv, Tensor::from_vector({3}, {0.912499964f, 0.45955357f, 1.81171429f})), 1e-6);

  Tensor x2 = x.clone();
  for (float& v : std::span(x2.data<float>(), 24)) v *= 2;
  ops::batch_norm2d(Variable(x2), gamma, beta, rm, rv, train);
  EXPECT_LT(max_abs_diff(rm, Tensor::from_vector({3}, {0.212749988f, -0.0556249991f, 0.0404999964f})), 1e-7);
  EXPECT_LT(max_abs_diff(rv, Tensor::from_vector({3}, {0.871249974f, 0.451812506f, 1.67739999f})), 1e-6);

  BatchNormParams eval;
  eval.training = false;
  const Tensor y3 = ops::batch_norm2d(Variable(x), gamma, beta, rm, rv, eval).data();
  const Tensor y3_torch = Tensor::from_vector(
      {2, 3, 2, 2}, {-0.884692609f, 0.240211263f,  -0.40259096f,  0.722312927f,  0.00985303894f, 0.307393521f,
                     -0.213302314f, 0.0842381567f, -0.825808406f, 0.255148679f,  -0.36254108f,   -0.980230868f,
                     0.240211263f,  -0.40259096f,  0.722312927f,  0.0795106962f, 0.307393521f,   -0.213302314f,
                     0.0842381567f, 0.381778628f,  0.255148679f,  -0.36254108f,  -0.980230868f,  0.100726254f});
  EXPECT_LT(max_abs_diff(y3, y3_torch), 2e-6);
}

TEST(BatchNorm, ContiguousInputGivesChannelsLastOutput) {
  const Tensor x = random_tensor({2, 16, 3, 3}, 28);  // NCHW memory
  const Tensor gamma = random_tensor({16}, 29), beta = random_tensor({16}, 30);
  Tensor rm = Tensor::zeros({16}), rv = Tensor::full({16}, 1.0f);
  const Tensor y = ops::batch_norm2d(Variable(x), Variable(gamma), Variable(beta), rm, rv, {}).data();
  EXPECT_TRUE(y.is_channels_last());
  EXPECT_LT(max_abs_diff(y, naive_batch_norm(x, gamma, beta, naive_batch_stats(x), 1e-5f, false)), 2e-5);
}

struct Pass {
  Tensor y, dx, dgamma, dbeta, rm, rv;
};

// One training forward and backward of batch_norm2d with dy as the output gradient (and `sum` as
// the process sum: synchronised batch norm).
Pass forward_backward(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& dy,
                      const BatchNormParams& p, const ops::ProcessSum& sum = {}) {
  Variable vx(x.clone(), true), vg(gamma.clone(), true), vb(beta.clone(), true);
  Pass r{Tensor(), Tensor(), Tensor(), Tensor(), Tensor::full({gamma.numel()}, 0.25f),
         Tensor::full({gamma.numel()}, 2.0f)};
  Variable y = ops::batch_norm2d(vx, vg, vb, r.rm, r.rv, p, sum);
  y.backward(dy);
  r.y = y.data();
  r.dx = vx.grad();
  r.dgamma = vg.grad();
  r.dbeta = vb.grad();
  return r;
}

// Every per-channel sum runs over fixed chunks of rows: 1 and 2 threads give the same bits.
TEST(BatchNorm, ResultsDoNotDependOnTheThreadCount) {
  const Shape s{16, 24, 8, 8};  // 1024 rows: four chunks
  const Tensor x = random_tensor(s, 31, -1.0f, 2.0f, MemoryFormat::channels_last);
  const Tensor gamma = random_tensor({24}, 32, 0.5f, 1.5f), beta = random_tensor({24}, 33);
  const Tensor dy = random_tensor(s, 34, -1.0f, 1.0f, MemoryFormat::channels_last);
  for (bool relu : {false, true}) {
    BatchNormParams p;
    p.fuse_relu = relu;
    const int threads = num_threads();
    set_num_threads(1);
    const Pass a = forward_backward(x, gamma, beta, dy, p);
    set_num_threads(2);
    const Pass b = forward_backward(x, gamma, beta, dy, p);
    set_num_threads(threads);
    for (auto [ta, tb] : {std::pair{a.y, b.y}, {a.dx, b.dx}, {a.dgamma, b.dgamma}, {a.dbeta, b.dbeta},
                          {a.rm, b.rm}, {a.rv, b.rv}})
      EXPECT_EQ(ta.to_vector(), tb.to_vector()) << "fuse_relu " << relu;
  }
}

// Batch norm against a double-precision reference on data where float accumulation fails: each
// channel a large mean with a small spread (x = 1000·(c+1) + 0.01·u), and an output gradient
// whose sum and whose correlation with x̂ are nearly zero (dy = v − mean(v) per channel, so the
// backward subtracts nearly equal means). Issue 14's bounds: dbeta and dgamma within
// 1e-6·max|ref|, dx within 1e-5·max|ref|; the output within 1e-6·max|ref|.
TEST(BatchNorm, MatchesADoubleReferenceOnCancellationProneData) {
  const int64_t N = 32, C = 20, H = 12, W = 12, HW = H * W, n = N * HW;
  const std::vector<float> u = random_tensor({N, C, H, W}, 35).to_vector();
  const std::vector<float> v = random_tensor({N, C, H, W}, 36).to_vector();
  std::vector<float> xv(u.size()), dyv(v.size());
  for (int64_t c = 0; c < C; ++c) {
    double vsum = 0;
    for (int64_t b = 0; b < N; ++b)
      for (int64_t i = 0; i < HW; ++i) vsum += v[size_t((b * C + c) * HW + i)];
    for (int64_t b = 0; b < N; ++b)
      for (int64_t i = 0; i < HW; ++i) {
        const size_t k = size_t((b * C + c) * HW + i);
        xv[k] = float(1000.0 * double(c + 1) + 0.01 * u[k]);
        dyv[k] = float(v[k] - vsum / double(n));
      }
  }
  const Tensor x = Tensor::from_vector({N, C, H, W}, xv).to(MemoryFormat::channels_last);
  const Tensor dy = Tensor::from_vector({N, C, H, W}, dyv).to(MemoryFormat::channels_last);
  const Tensor gamma = random_tensor({C}, 37, 0.5f, 1.5f), beta = random_tensor({C}, 38);
  const std::vector<float> g = gamma.to_vector(), bt = beta.to_vector();

  for (bool relu : {false, true}) {
    BatchNormParams p;
    p.fuse_relu = relu;
    const Pass lpt = forward_backward(x, gamma, beta, dy, p);
    // The reference, in double from the same float inputs.
    std::vector<double> y(xv.size()), dx(xv.size()), dgamma(static_cast<size_t>(C)), dbeta(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
      auto at = [&](int64_t b, int64_t i) { return size_t((b * C + c) * HW + i); };
      double mean = 0, var = 0;
      for (int64_t b = 0; b < N; ++b)
        for (int64_t i = 0; i < HW; ++i) mean += xv[at(b, i)];
      mean /= double(n);
      for (int64_t b = 0; b < N; ++b)
        for (int64_t i = 0; i < HW; ++i) var += (xv[at(b, i)] - mean) * (xv[at(b, i)] - mean);
      const double invstd = 1.0 / std::sqrt(var / double(n) + double(p.eps));
      double sg = 0, sgx = 0;
      for (int64_t b = 0; b < N; ++b)
        for (int64_t i = 0; i < HW; ++i) {
          const size_t k = at(b, i);
          const double xhat = (xv[k] - mean) * invstd, out = g[size_t(c)] * xhat + bt[size_t(c)];
          y[k] = relu ? std::max(out, 0.0) : out;
          const double grad = relu && out <= 0 ? 0.0 : double(dyv[k]);
          sg += grad;
          sgx += grad * xhat;
        }
      dbeta[size_t(c)] = sg;
      dgamma[size_t(c)] = sgx;
      for (int64_t b = 0; b < N; ++b)
        for (int64_t i = 0; i < HW; ++i) {
          const size_t k = at(b, i);
          const double xhat = (xv[k] - mean) * invstd, out = g[size_t(c)] * xhat + bt[size_t(c)];
          const double grad = relu && out <= 0 ? 0.0 : double(dyv[k]);
          dx[k] = g[size_t(c)] * invstd * (grad - sg / double(n) - xhat * sgx / double(n));
        }
    }
    // max|lpt − ref| / max|ref| over the tensor (lpt's values in logical NCHW order).
    auto relative = [](const Tensor& got, const std::vector<double>& ref) {
      const std::vector<float> a = got.to_vector();
      double diff = 0, top = 0;
      for (size_t i = 0; i < ref.size(); ++i) {
        diff = std::max(diff, std::fabs(double(a[i]) - ref[i]));
        top = std::max(top, std::fabs(ref[i]));
      }
      return diff / top;
    };
    EXPECT_LT(relative(lpt.y, y), 1e-6) << "fuse_relu " << relu;
    EXPECT_LT(relative(lpt.dbeta, dbeta), 1e-6) << "fuse_relu " << relu;
    EXPECT_LT(relative(lpt.dgamma, dgamma), 1e-6) << "fuse_relu " << relu;
    EXPECT_LT(relative(lpt.dx, dx), 1e-5) << "fuse_relu " << relu;
  }
}

// Synchronised batch norm (batch_norm2d with a process sum) in one process: with the identity as
// the process sum it is local batch norm bit for bit — output, running statistics and every
// gradient, with and without the fused ReLU — and its gradients match finite differences. A sum
// that doubles every value is two processes holding the same shard: the normalisation, dx and the
// local dgamma/dbeta are unchanged, and the running variance is unbiased over the doubled count.
// (The `Mpi.` tests run it across two processes.)
const ops::ProcessSum identity = [](double*, int64_t) {};

class SyncBatchNorm : public ::testing::TestWithParam<std::tuple<int64_t, bool>> {};

TEST_P(SyncBatchNorm, WithOneProcessItIsBatchNorm) {
  const auto [C, relu] = GetParam();
  BatchNormParams p;
  p.fuse_relu = relu;
  const Tensor x = random_tensor({4, C, 5, 3}, 1, -2.0f, 3.0f, MemoryFormat::channels_last);
  const Tensor gamma = random_tensor({C}, 2, 0.5f, 1.5f), beta = random_tensor({C}, 3, -0.5f, 0.5f);
  const Tensor dy = random_tensor({4, C, 5, 3}, 4, -1.0f, 1.0f, MemoryFormat::channels_last);
  const Pass a = forward_backward(x, gamma, beta, dy, p);
  const Pass b = forward_backward(x, gamma, beta, dy, p, identity);
  for (auto [ta, tb] : {std::pair{a.y, b.y}, {a.rm, b.rm}, {a.rv, b.rv}, {a.dx, b.dx}, {a.dgamma, b.dgamma},
                        {a.dbeta, b.dbeta}})
    EXPECT_EQ(ta.to_vector(), tb.to_vector());

  // Two processes with the same shard: every sum doubles.
  const ops::ProcessSum twice = [](double* d, int64_t n) {
    for (int64_t i = 0; i < n; ++i) d[i] *= 2;
  };
  const Pass c = forward_backward(x, gamma, beta, dy, p, twice);
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

TEST(BatchNorm, ShapeErrorsNameOpAndShapes) {
  const Variable x(random_tensor({2, 4, 3, 3}, 34, -1.0f, 1.0f, MemoryFormat::channels_last));
  const Variable g4(Tensor::full({4}, 1.0f)), b4(Tensor::zeros({4})), g5(Tensor::full({5}, 1.0f));
  Tensor rm = Tensor::zeros({4}), rv = Tensor::full({4}, 1.0f), rm3 = Tensor::zeros({3});
  std::string e = error_of([&] { ops::batch_norm2d(x, g5, b4, rm, rv, {}); });
  EXPECT_NE(e.find("batch_norm2d: weight is f32[5]"), std::string::npos) << e;
  EXPECT_NE(e.find("[2, 4, 3, 3]"), std::string::npos) << e;
  e = error_of([&] { ops::batch_norm2d(x, g4, b4, rm3, rv, {}); });
  EXPECT_NE(e.find("batch_norm2d: running_mean is f32[3]"), std::string::npos) << e;
  e = error_of([&] { ops::batch_norm2d(Variable(random_tensor({2, 4, 9}, 35)), g4, b4, rm, rv, {}); });
  EXPECT_NE(e.find("batch_norm2d: input is f32[2, 4, 9]"), std::string::npos) << e;
  e = error_of([&] { ops::batch_norm2d(Variable(random_tensor({1, 4, 1, 1}, 36)), g4, b4, rm, rv, {}); });
  EXPECT_NE(e.find("more than one value per channel, input is [1, 4, 1, 1]"), std::string::npos) << e;
}

}  // namespace
}  // namespace lpt
