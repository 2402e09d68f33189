#include "core/hdf5.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace lpt {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("lpt_hdf5_test_" + name)).string();
}

TEST(Hdf5, WritesAndReadsTensorsAttributesAndNestedNames) {
  const std::string path = temp_path("roundtrip.h5");
  Tensor f = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = Tensor::empty({4}, DType::u8);
  for (int i = 0; i < 4; ++i) b.data<uint8_t>()[i] = uint8_t(250 + i);
  {
    h5::File file = h5::File::create(path);
    file.write("model/layer1.0.conv1.weight", f);
    file.write("codes", b);
    file.set_attr("model/layer1.0.conv1.weight", "format", std::string("int4-pv16-s4"));
    file.set_attr("/", "step", int64_t(42));
    file.set_attr("/", "lr", 0.125);
  }
  h5::File file = h5::File::open_read(path);
  EXPECT_EQ(file.read("model/layer1.0.conv1.weight").to_vector(), f.to_vector());
  const Tensor rb = file.read("codes");
  ASSERT_EQ(rb.dtype(), DType::u8);
  EXPECT_EQ(rb.data<uint8_t>()[3], 253);
  EXPECT_EQ(file.attr_string("model/layer1.0.conv1.weight", "format"), "int4-pv16-s4");
  EXPECT_EQ(file.attr_int("/", "step"), 42);
  EXPECT_EQ(file.attr_double("/", "lr"), 0.125);
  EXPECT_EQ(file.attributes("/"), (std::vector<std::string>{"lr", "step"}));
  EXPECT_EQ(file.datasets(), (std::vector<std::string>{"codes", "model/layer1.0.conv1.weight"}));
  EXPECT_FALSE(file.has("model/missing/x"));
  std::filesystem::remove(path);
}

TEST(Hdf5, ErrorsNameTheFileAndObject) {
  const std::string path = temp_path("errors.h5");
  { h5::File::create(path).write("x", Tensor::zeros({3})); }
  h5::File file = h5::File::open_read(path);
  try {
    file.read("y");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("errors.h5"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("'y'"), std::string::npos);
  }
  EXPECT_THROW(h5::File::open_read(temp_path("does_not_exist.h5")), Error);
  std::filesystem::remove(path);
}

TEST(Hdf5, TruncatedFileIsRejected) {
  const std::string path = temp_path("truncated.h5");
  { h5::File::create(path).write("x", Tensor::zeros({1000})); }
  std::filesystem::resize_file(path, 100);
  EXPECT_THROW(
      {
        h5::File f = h5::File::open_read(path);
        f.read("x");
      },
      Error);
  std::filesystem::remove(path);
}

TEST(Hdf5, AtomicWriteKeepsTheOldFileWhenFillingFails) {
  const std::string path = temp_path("atomic.h5");
  h5::write_atomically(path, [](h5::File& f) { f.write("x", Tensor::full({2}, 1.0f)); });
  EXPECT_THROW(h5::write_atomically(path,
                                    [](h5::File& f) {
                                      f.write("x", Tensor::full({2}, 2.0f));
                                      fail("simulated crash");
                                    }),
               Error);
  EXPECT_EQ(h5::File::open_read(path).read("x").to_vector(), (std::vector<float>{1, 1}));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace lpt
