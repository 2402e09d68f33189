// load_dataset: the configuration's (kind, path) to the right reader.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/hdf5.h"
#include "datasets/idx.h"
#include "datasets/load.h"

namespace lpt::data {
namespace {

namespace fs = std::filesystem;

TEST(DatasetLoad, SyntheticTrainAndTestShareClassesButNotSamples) {
  DatasetOptions opt;
  opt.synthetic.size = 600;
  const auto train = load_dataset("synthetic", "", true, opt);
  const auto test = load_dataset("synthetic", "", false, opt);
  EXPECT_EQ(train->size(), 600);
  EXPECT_EQ(test->size(), 100);
  EXPECT_EQ(train->name(), "synthetic/train");
  EXPECT_EQ(test->name(), "synthetic/test");
  std::vector<float> a(784), b(784);
  int32_t la, lb;
  train->get(3, a.data(), &la);
  test->get(3, b.data(), &lb);
  EXPECT_EQ(la, lb);  // same class ...
  EXPECT_NE(a, b);    // ... other sample
}

TEST(DatasetLoad, Hdf5DirectoryOrFile) {
  const fs::path dir = fs::temp_directory_path() / "lpt_dataset_load_hdf5";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* split : {"train", "test"}) {
    h5::File f = h5::File::create((dir / (std::string(split) + ".h5")).string());
    const int64_t n = split[1] == 'r' ? 4 : 2;
    f.write("images", Tensor::zeros({n, 1, 5, 5}, DType::u8));
    f.write("labels", Tensor::zeros({n}, DType::s32));
  }
  EXPECT_EQ(load_dataset("hdf5", dir.string(), true)->size(), 4);
  EXPECT_EQ(load_dataset("hdf5", dir.string(), false)->size(), 2);
  EXPECT_EQ(load_dataset("hdf5", (dir / "test.h5").string(), true)->size(), 2);
  fs::remove_all(dir);
}

TEST(DatasetLoad, UnknownKindsAndMissingPathsAreErrors) {
  try {
    load_dataset("imagenet21k", "/x", true);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown dataset kind 'imagenet21k'"), std::string::npos);
  }
  EXPECT_THROW(load_dataset("cifar10", "/nonexistent/cifar", true), Error);
  EXPECT_THROW(load_dataset("image-folder", "/nonexistent/imagenet", false), Error);
}

TEST(DatasetLoad, FashionMnistDefaultsToTheDebianPackage) {
  if (!fs::exists(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz")) GTEST_SKIP();
  const auto test = load_dataset("fashion-mnist", "", false);
  EXPECT_EQ(test->size(), 10000);
  EXPECT_EQ(test->name(), "fashion-mnist/test");
}

}  // namespace
}  // namespace lpt::data
