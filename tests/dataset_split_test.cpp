// Seeded permutations, the train/validation split, Subset views, channel statistics and the
// synthetic dataset.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "datasets/synthetic.h"

namespace lpt::data {
namespace {

std::shared_ptr<SyntheticDataset> synthetic(int64_t size, uint64_t seed = 0) {
  SyntheticOptions o;
  o.size = size;
  o.seed = seed;
  return std::make_shared<SyntheticDataset>(o);
}

TEST(DatasetSplit, SeededPermutationIsAPermutationAndAPureFunctionOfItsKey) {
  const std::vector<int64_t> p = seeded_permutation(1000, 42, 7);
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[size_t(i)], i);
  EXPECT_EQ(p, seeded_permutation(1000, 42, 7));
  EXPECT_NE(p, seeded_permutation(1000, 43, 7));
  EXPECT_NE(p, seeded_permutation(1000, 42, 8));
  int fixed_points = 0;
  for (int64_t i = 0; i < 1000; ++i) fixed_points += p[size_t(i)] == i;
  EXPECT_LT(fixed_points, 10);  // about 1 expected for a uniform permutation
  // Each of 10 values lands in each of 10 positions about equally often over many keys.
  std::vector<int> counts(100, 0);
  for (uint64_t key = 0; key < 2000; ++key) {
    const std::vector<int64_t> q = seeded_permutation(10, key, 0);
    for (int pos = 0; pos < 10; ++pos) ++counts[size_t(pos * 10 + q[size_t(pos)])];
  }
  for (int c : counts) EXPECT_NEAR(c, 200, 60);
  EXPECT_TRUE(seeded_permutation(0, 1, 1).empty());
  EXPECT_EQ(seeded_permutation(1, 1, 1), (std::vector<int64_t>{0}));
}

TEST(DatasetSplit, ValidationIsDisjointFromTrainingAndDeterministic) {
  const auto full = synthetic(1000);
  const TrainValSplit s = split_train_val(full, 100, 7);
  ASSERT_EQ(s.train->size(), 900);
  ASSERT_EQ(s.val->size(), 100);
  std::set<int64_t> all(s.train->indices().begin(), s.train->indices().end());
  for (int64_t i : s.val->indices()) EXPECT_FALSE(all.count(i)) << "index " << i << " in both parts";
  all.insert(s.val->indices().begin(), s.val->indices().end());
  EXPECT_EQ(all.size(), 1000u);
  EXPECT_TRUE(std::is_sorted(s.val->indices().begin(), s.val->indices().end()));
  EXPECT_TRUE(std::is_sorted(s.train->indices().begin(), s.train->indices().end()));

  const TrainValSplit again = split_train_val(full, 100, 7);
  EXPECT_EQ(again.val->indices(), s.val->indices());
  EXPECT_NE(split_train_val(full, 100, 8).val->indices(), s.val->indices());
  // Not simply the first or last samples.
  EXPECT_LT(s.val->indices().front(), 50);
  EXPECT_GT(s.val->indices().back(), 950);
  EXPECT_EQ(s.val->name(), "synthetic[val]");
  EXPECT_EQ(s.train->name(), "synthetic[train]");

  // The default holds out 5000 samples.
  const TrainValSplit big = split_train_val(synthetic(60000));
  EXPECT_EQ(big.val->size(), 5000);
  EXPECT_EQ(big.train->size(), 55000);
  EXPECT_THROW(split_train_val(full, 1000, 0), Error);
}

TEST(DatasetSplit, SubsetReadsTheBaseSamples) {
  const auto full = synthetic(50);
  const Subset sub(full, {7, 3, 41}, "sub");
  ASSERT_EQ(sub.size(), 3);
  std::vector<float> a(784), b(784);
  int32_t la, lb;
  sub.get(2, a.data(), &la);
  full->get(41, b.data(), &lb);
  EXPECT_EQ(a, b);
  EXPECT_EQ(la, lb);
  EXPECT_THROW(sub.get(3, a.data(), &la), Error);
  EXPECT_THROW(Subset(full, {50}, "bad"), Error);
}

TEST(DatasetSynthetic, IsDeterministicBalancedAndLearnable) {
  SyntheticOptions o;
  o.size = 2000;
  o.num_classes = 4;
  o.shape = {3, 12, 10};
  o.seed = 5;
  const SyntheticDataset d(o);
  const int64_t n = o.shape.numel();
  std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
  int32_t la, lb;
  d.get(17, a.data(), &la);
  SyntheticDataset(o).get(17, b.data(), &lb);
  EXPECT_EQ(a, b);
  EXPECT_EQ(la, 1);
  for (float v : a) {
    ASSERT_GE(v, 0.0f);
    ASSERT_LE(v, 1.0f);
  }
  d.get(18, b.data(), &lb);
  EXPECT_NE(a, b);

  // With the default options (10 classes of 1x28x28), a nearest-class-mean classifier fit on
  // 1000 samples classifies 1000 others well: a model can learn the set. Chance is 10%.
  SyntheticOptions defaults;
  defaults.size = 2000;
  const SyntheticDataset easy(defaults);
  const int64_t m = easy.sample_shape().numel();
  std::vector<float> x(static_cast<size_t>(m));
  std::vector<std::vector<double>> mean(10, std::vector<double>(size_t(m), 0.0));
  for (int64_t i = 0; i < 1000; ++i) {
    easy.get(i, x.data(), &la);
    for (int64_t k = 0; k < m; ++k) mean[size_t(la)][size_t(k)] += x[size_t(k)] / 100.0;
  }
  int correct = 0;
  for (int64_t i = 1000; i < 2000; ++i) {
    easy.get(i, x.data(), &la);
    int best = 0;
    double best_dist = 1e30;
    for (int c = 0; c < 10; ++c) {
      double dist = 0;
      for (int64_t k = 0; k < m; ++k) dist += std::pow(x[size_t(k)] - mean[size_t(c)][size_t(k)], 2);
      if (dist < best_dist) best_dist = dist, best = c;
    }
    correct += best == la;
  }
  EXPECT_GT(correct, 950);
}

TEST(DatasetSplit, ChannelStatsMatchANaiveComputation) {
  SyntheticOptions o;
  o.size = 40;
  o.shape = {2, 5, 4};
  const SyntheticDataset d(o);
  const ChannelStats s = channel_stats(d);
  ASSERT_EQ(s.mean.size(), 2u);
  std::vector<float> x(40);
  int32_t label;
  for (int c = 0; c < 2; ++c) {
    std::vector<double> values;
    for (int64_t i = 0; i < 40; ++i) {
      d.get(i, x.data(), &label);
      values.insert(values.end(), x.begin() + c * 20, x.begin() + (c + 1) * 20);
    }
    double mean = 0, var = 0;
    for (double v : values) mean += v / double(values.size());
    for (double v : values) var += (v - mean) * (v - mean) / double(values.size());
    EXPECT_NEAR(s.mean[size_t(c)], mean, 1e-6);
    EXPECT_NEAR(s.std[size_t(c)], std::sqrt(var), 1e-5);
  }
  // max_samples limits the samples read.
  const ChannelStats first = channel_stats(d, 1);
  d.get(0, x.data(), &label);
  double m0 = 0;
  for (int k = 0; k < 20; ++k) m0 += x[size_t(k)] / 20.0;
  EXPECT_NEAR(first.mean[0], m0, 1e-6);
}

}  // namespace
}  // namespace lpt::data
