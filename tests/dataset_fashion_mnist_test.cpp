// The real Fashion-MNIST files from Debian's dataset-fashion-mnist package, when installed.
#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>

#include "datasets/idx.h"

namespace lpt::data {
namespace {

// Reference values:
//   import gzip, numpy as np
//   d = "/usr/share/datasets/fashion-mnist/"
//   lab = np.frombuffer(gzip.open(d + "train-labels-idx1-ubyte.gz").read()[8:], np.uint8)
//   img = np.frombuffer(gzip.open(d + "train-images-idx3-ubyte.gz").read()[16:], np.uint8).reshape(-1, 28, 28)
//   lab[:10], np.bincount(lab), img[0].sum(), img[-1].sum(), img[0, 10, 10:20]   (and "t10k")
TEST(DatasetFashionMnist, RealFilesHaveTheKnownCountsAndValues) {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST not installed at " << kFashionMnistDir;
  }
  const auto train = load_mnist_dir(kFashionMnistDir, true, "fashion-mnist");
  const auto test = load_mnist_dir(kFashionMnistDir, false, "fashion-mnist");
  ASSERT_EQ(train->size(), 60000);
  ASSERT_EQ(test->size(), 10000);
  EXPECT_EQ(train->sample_shape(), (SampleShape{1, 28, 28}));
  EXPECT_EQ(train->num_classes(), 10);
  EXPECT_EQ(test->name(), "fashion-mnist/test");

  const std::vector<int32_t> first_train(train->labels().begin(), train->labels().begin() + 10);
  EXPECT_EQ(first_train, (std::vector<int32_t>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}));
  const std::vector<int32_t> first_test(test->labels().begin(), test->labels().begin() + 10);
  EXPECT_EQ(first_test, (std::vector<int32_t>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}));
  std::vector<int> counts(10, 0);
  for (int32_t l : train->labels()) ++counts[size_t(l)];
  EXPECT_EQ(counts, std::vector<int>(10, 6000));

  const uint8_t* px = train->images().data<uint8_t>();
  EXPECT_EQ(std::accumulate(px, px + 784, int64_t(0)), 76247);
  EXPECT_EQ(std::accumulate(px + 59999 * 784, px + 60000 * 784, int64_t(0)), 16684);
  EXPECT_EQ(std::accumulate(test->images().data<uint8_t>(), test->images().data<uint8_t>() + 784, int64_t(0)), 33456);
  std::vector<float> sample(784);
  int32_t label;
  train->get(0, sample.data(), &label);
  const int row10[10] = {0, 0, 0, 193, 228, 218, 213, 198, 180, 212};
  for (int x = 0; x < 10; ++x) EXPECT_EQ(sample[size_t(10 * 28 + 10 + x)], float(row10[x]) / 255.0f);
  EXPECT_EQ(label, 9);
}

}  // namespace
}  // namespace lpt::data
