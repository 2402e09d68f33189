#include <gtest/gtest.h>

#include <cmath>

#include "core/ops/dropout.h"
#include "core/threads.h"
#include "tests/support/gradcheck.h"

namespace lpt {
namespace {

using testing::gradcheck;
using testing::random_tensor;

const RandomStream kStream(2024, 7);

// Element i (logical order) is kept, scaled by 1/(1-p), iff the stream's i-th uniform is >= p.
void expect_naive_dropout(const Tensor& x, const Tensor& y, float p) {
  const std::vector<float> xv = x.to_vector(), yv = y.to_vector();
  const float scale = 1.0f / (1.0f - p);
  for (size_t i = 0; i < xv.size(); ++i)
    ASSERT_EQ(yv[i], kStream.uniform(i) >= p ? xv[i] * scale : 0.0f) << "element " << i;
}

TEST(Dropout, ForwardMatchesNaiveLoop) {
  const Tensor x = random_tensor({5, 37}, 1);
  expect_naive_dropout(x, ops::dropout(Variable(x), 0.3f, true, kStream).data(), 0.3f);
}

// The mask follows logical indices, so a channels-last input drops the same logical elements.
TEST(Dropout, ChannelsLastInputUsesLogicalIndices) {
  const Tensor x = random_tensor({2, 3, 5, 3}, 2, -1, 1, MemoryFormat::channels_last);
  const Tensor y = ops::dropout(Variable(x), 0.5f, true, kStream).data();
  EXPECT_TRUE(y.is_channels_last());
  expect_naive_dropout(x, y, 0.5f);
}

// One process's shard of a batch (SPEC §10) gets its part of the whole batch's mask: a batch of 6
// split after sample 1 and after sample 3 (offsets that are not multiples of Philox's blocks of 4).
TEST(Dropout, AShardOfTheBatchGetsItsPartOfTheWholeMask) {
  for (MemoryFormat mf : {MemoryFormat::contiguous, MemoryFormat::channels_last}) {
    const Tensor x = random_tensor({6, 3, 3, 3}, 4, -1, 1, mf);
    const std::vector<float> values = x.to_vector(), whole = ops::dropout(Variable(x), 0.5f, true, kStream).data().to_vector();
    for (int64_t split : {1, 3}) {
      const int64_t per_sample = 27;
      std::vector<float> parts;
      for (auto [b0, b1] : {std::pair<int64_t, int64_t>{0, split}, {split, 6}}) {
        const Tensor shard = Tensor::from_vector(
            {b1 - b0, 3, 3, 3}, std::vector<float>(values.begin() + b0 * per_sample, values.begin() + b1 * per_sample)).to(mf);
        const std::vector<float> y = ops::dropout(Variable(shard), 0.5f, true, kStream, b0 * per_sample).data().to_vector();
        parts.insert(parts.end(), y.begin(), y.end());
      }
      EXPECT_EQ(parts, whole) << "split after sample " << split;
    }
  }
}

TEST(Dropout, MaskDoesNotDependOnThreadCount) {
  const int saved = num_threads();
  for (MemoryFormat mf : {MemoryFormat::contiguous, MemoryFormat::channels_last}) {
    const Tensor x = random_tensor({4, 16, 7, 7}, 3, -1, 1, mf);
    set_num_threads(1);
    const std::vector<float> one = ops::dropout(Variable(x), 0.4f, true, kStream).data().to_vector();
    set_num_threads(2);
    const std::vector<float> two = ops::dropout(Variable(x), 0.4f, true, kStream).data().to_vector();
    EXPECT_EQ(one, two);
  }
  set_num_threads(saved);
}

TEST(Dropout, KeepFractionIsOneMinusP) {
  const int64_t n = 200000;
  for (float p : {0.1f, 0.5f, 0.9f}) {
    const Tensor y = ops::dropout(Variable(Tensor::full({n}, 1.0f)), p, true, kStream).data();
    int64_t kept = 0;
    for (float v : y.to_vector()) kept += v != 0.0f;
    const double fraction = double(kept) / double(n), std_error = std::sqrt(p * (1.0 - p) / double(n));
    EXPECT_NEAR(fraction, 1.0 - p, 4 * std_error) << "p = " << p;
  }
}

TEST(Dropout, EvaluationAndZeroProbabilityAreTheIdentity) {
  const Variable x(random_tensor({3, 10}, 4), true, "x");
  EXPECT_TRUE(ops::dropout(x, 0.5f, false, kStream).same(x));
  EXPECT_TRUE(ops::dropout(x, 0.0f, true, kStream).same(x));
}

TEST(Dropout, GradientMatchesFiniteDifferences) {
  const auto f = [](const std::vector<Variable>& v) { return ops::dropout(v[0], 0.3f, true, kStream); };
  EXPECT_TRUE(gradcheck(f, {random_tensor({4, 9}, 5)}));
  EXPECT_TRUE(gradcheck(f, {random_tensor({2, 3, 3, 2}, 6, -1, 1, MemoryFormat::channels_last)}));
}

TEST(Dropout, ProbabilityOutsideRangeIsAnError) {
  for (float p : {-0.1f, 1.0f, NAN}) {
    try {
      ops::dropout(Variable(Tensor::zeros({2, 2})), p, true, kStream);
      FAIL() << "expected an error for p = " << p;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("dropout: probability"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("outside [0, 1)"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace lpt
