// IDX (plain and gzip), CIFAR-10/100 binary and HDF5 readers on small files the tests write:
// values and labels, and every error names the file.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "core/hdf5.h"
#include "datasets/cifar.h"
#include "datasets/hdf5_dataset.h"
#include "datasets/file_io.h"
#include "datasets/idx.h"
#include "tests/support/test_helpers.h"

namespace lpt::data {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  gzclose(f);
}

std::vector<uint8_t> idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out;
  for (uint32_t v : std::vector<uint32_t>{magic}) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(v >> s));
  }
  for (uint32_t v : dims) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(v >> s));
  }
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// 3 images of 2x3 pixels: pixel k of image i is 40 * i + 7 * k; labels 9, 0, 4.
std::vector<uint8_t> idx_images() {
  std::vector<uint8_t> pixels;
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 6; ++k) pixels.push_back(uint8_t(40 * i + 7 * k));
  return idx_bytes(0x803, {3, 2, 3}, pixels);
}
std::vector<uint8_t> idx_labels(std::vector<uint8_t> labels = {9, 0, 4}) {
  return idx_bytes(0x801, {uint32_t(labels.size())}, labels);
}

// Runs f, expects an lpt::Error whose message contains every one of `parts`.
template <class F>
void expect_error(F f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an lpt::Error mentioning " << parts.front();
  } catch (const Error& e) {
    for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

void expect_idx_contents(const InMemoryDataset& d) {
  ASSERT_EQ(d.size(), 3);
  EXPECT_EQ(d.num_classes(), 10);
  EXPECT_EQ(d.sample_shape(), (SampleShape{1, 2, 3}));
  std::vector<float> sample(6);
  int32_t label = -1;
  const int32_t labels[3] = {9, 0, 4};
  for (int i = 0; i < 3; ++i) {
    d.get(i, sample.data(), &label);
    EXPECT_EQ(label, labels[i]);
    for (int k = 0; k < 6; ++k) EXPECT_EQ(sample[size_t(k)], float(40 * i + 7 * k) / 255.0f) << i << "," << k;
  }
}

TEST(DatasetIdx, PlainAndGzipFilesGiveTheSameValuesAndLabels) {
  TempDir dir("idx");
  write_bytes(dir.file("img"), idx_images());
  write_bytes(dir.file("lab"), idx_labels());
  write_gzip(dir.file("img.gz"), idx_images());
  write_gzip(dir.file("lab.gz"), idx_labels());
  expect_idx_contents(*load_idx(dir.file("img"), dir.file("lab"), "plain"));
  expect_idx_contents(*load_idx(dir.file("img.gz"), dir.file("lab.gz"), "gz"));
}

TEST(DatasetIdx, MnistDirectoryFindsPlainOrGzipFiles) {
  TempDir dir("mnist_dir");
  write_gzip(dir.file("train-images-idx3-ubyte.gz"), idx_images());
  write_bytes(dir.file("train-labels-idx1-ubyte"), idx_labels());
  const auto d = load_mnist_dir(dir.path(), true, "fashion-mnist");
  expect_idx_contents(*d);
  EXPECT_EQ(d->name(), "fashion-mnist/train");
  expect_error([&] { load_mnist_dir(dir.path(), false); },
               {"t10k-images-idx3-ubyte"});
}

TEST(DatasetIdx, ErrorsNameTheFile) {
  TempDir dir("idx_errors");
  const std::string img = dir.file("img"), lab = dir.file("lab");
  write_bytes(img, idx_images());
  write_bytes(lab, idx_labels());

  std::vector<uint8_t> cut = idx_images();
  cut.resize(cut.size() - 5);
  write_bytes(dir.file("short"), cut);
  expect_error([&] { load_idx(dir.file("short"), lab, "t"); }, {dir.file("short"), "truncated"});
  const std::vector<uint8_t> images = idx_images();
  write_bytes(dir.file("header_only"), std::vector<uint8_t>(images.begin(), images.begin() + 6));
  expect_error([&] { load_idx(dir.file("header_only"), lab, "t"); }, {dir.file("header_only"), "truncated"});

  // A gzip stream cut in the middle: zlib reports the unexpected end.
  write_gzip(dir.file("full.gz"), std::vector<uint8_t>(20000, 7));
  std::ifstream in(dir.file("full.gz"), std::ios::binary);
  std::vector<uint8_t> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gz.resize(gz.size() / 2);
  write_bytes(dir.file("cut.gz"), gz);
  expect_error([&] { load_idx(dir.file("cut.gz"), lab, "t"); }, {dir.file("cut.gz")});

  expect_error([&] { load_idx(lab, lab, "t"); }, {lab, "magic number 0x801", "expected 0x00000803"});
  expect_error([&] { load_idx(img, img, "t"); }, {img, "magic number 0x803", "expected 0x00000801"});

  write_bytes(dir.file("lab4"), idx_labels({1, 2, 3, 4}));
  expect_error([&] { load_idx(img, dir.file("lab4"), "t"); }, {img, dir.file("lab4"), "3 images", "4 labels"});

  write_bytes(dir.file("lab_range"), idx_labels({1, 10, 3}));
  expect_error([&] { load_idx(img, dir.file("lab_range"), "t"); }, {dir.file("lab_range"), "label 10", "out of range"});

  expect_error([&] { load_idx(dir.file("missing"), lab, "t"); }, {dir.file("missing"), "does not exist"});

  // Sizes whose product wraps past 2^64: rejected before anything is compared or allocated.
  std::vector<uint8_t> huge = {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  write_bytes(dir.file("huge"), huge);
  expect_error([&] { load_idx(dir.file("huge"), lab, "t"); }, {dir.file("huge"), "multiply past 2^64"});
}

// A small gzip file that expands beyond the limit is refused while reading, not after.
TEST(DatasetIdx, GzipExpansionIsBounded) {
  TempDir dir("idx_gzip_bomb");
  write_gzip(dir.file("bomb.gz"), std::vector<uint8_t>(size_t(5) << 20, 0));  // 5 MiB of zeros: ~5 KB
  EXPECT_EQ(read_file_maybe_gzip(dir.file("bomb.gz")).size(), size_t(5) << 20);
  expect_error([&] { read_file_maybe_gzip(dir.file("bomb.gz"), size_t(2) << 20); },
               {dir.file("bomb.gz"), "holds more than 2097152 bytes (decompressed)"});
}

// CIFAR records: pixel k of record r is (r * 31 + k) mod 256; labels as given (the last label
// byte of each record; CIFAR-100 records also carry a coarse label).
std::vector<uint8_t> cifar_records(const std::vector<std::vector<uint8_t>>& labels, int first_record) {
  std::vector<uint8_t> out;
  for (size_t r = 0; r < labels.size(); ++r) {
    out.insert(out.end(), labels[r].begin(), labels[r].end());
    for (int k = 0; k < 3072; ++k) out.push_back(uint8_t(((first_record + int(r)) * 31 + k) % 256));
  }
  return out;
}

TEST(DatasetCifar, Cifar10ReadsTheBatchesInOrder) {
  TempDir dir("cifar10");
  fs::create_directories(dir.file("cifar-10-batches-bin"));
  for (int b = 1; b <= 5; ++b) {
    write_bytes(dir.file("cifar-10-batches-bin/data_batch_" + std::to_string(b) + ".bin"),
                cifar_records({{uint8_t(b)}, {uint8_t(9 - b)}}, 2 * (b - 1)));
  }
  write_bytes(dir.file("cifar-10-batches-bin/test_batch.bin"), cifar_records({{3}}, 100));
  const std::string root = dir.path();
  const auto train = load_cifar10(root, true);  // finds the extracted folder inside root
  ASSERT_EQ(train->size(), 10);
  EXPECT_EQ(train->num_classes(), 10);
  EXPECT_EQ(train->sample_shape(), (SampleShape{3, 32, 32}));
  std::vector<float> sample(3072);
  int32_t label;
  for (int r = 0; r < 10; ++r) {
    train->get(r, sample.data(), &label);
    const int b = r / 2 + 1;
    EXPECT_EQ(label, r % 2 == 0 ? b : 9 - b);
    for (int k : {0, 1, 1023, 1024, 2048, 3071}) EXPECT_EQ(sample[size_t(k)], float((r * 31 + k) % 256) / 255.0f);
  }
  const auto test = load_cifar10(root + "/cifar-10-batches-bin", false);
  ASSERT_EQ(test->size(), 1);
  test->get(0, sample.data(), &label);
  EXPECT_EQ(label, 3);
  EXPECT_EQ(sample[5], float((100 * 31 + 5) % 256) / 255.0f);
}

TEST(DatasetCifar, Cifar100UsesTheFineLabel) {
  TempDir dir("cifar100");
  write_bytes(dir.file("train.bin"), cifar_records({{2, 57}, {19, 99}, {0, 3}}, 0));
  const auto d = load_cifar100(dir.path(), true);
  ASSERT_EQ(d->size(), 3);
  EXPECT_EQ(d->num_classes(), 100);
  EXPECT_EQ(d->labels(), (std::vector<int32_t>{57, 99, 3}));
  std::vector<float> sample(3072);
  int32_t label;
  d->get(2, sample.data(), &label);
  EXPECT_EQ(sample[100], float((2 * 31 + 100) % 256) / 255.0f);
}

TEST(DatasetCifar, ErrorsNameTheFile) {
  TempDir dir("cifar_errors");
  std::vector<uint8_t> cut = cifar_records({{1}, {2}}, 0);
  cut.resize(cut.size() - 100);
  write_bytes(dir.file("cut.bin"), cut);
  expect_error([&] { load_cifar_binary({dir.file("cut.bin")}, 1, 10, "c"); }, {dir.file("cut.bin"), "truncated"});
  write_bytes(dir.file("range.bin"), cifar_records({{1}, {10}}, 0));
  expect_error([&] { load_cifar_binary({dir.file("range.bin")}, 1, 10, "c"); },
               {dir.file("range.bin"), "label 10", "out of range"});
  write_bytes(dir.file("range100.bin"), cifar_records({{1, 100}}, 0));
  expect_error([&] { load_cifar_binary({dir.file("range100.bin")}, 2, 100, "c"); },
               {dir.file("range100.bin"), "label 100"});
  expect_error([&] { load_cifar10(dir.path(), true); }, {"data_batch_1.bin"});
}

// images[n, c, h, w] = n * 60 + c * 20 + h * 4 + w (N=2, C=3, H=4, W=5), labels 2, 0.
uint8_t pixel(int64_t n, int64_t c, int64_t h, int64_t w) { return uint8_t(n * 60 + c * 20 + h * 4 + w); }

Tensor images_tensor(bool nhwc, DType dtype) {
  const Shape shape = nhwc ? Shape{2, 4, 5, 3} : Shape{2, 3, 4, 5};
  Tensor t = Tensor::empty(shape, dtype);
  int64_t i = 0;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t a = 0; a < shape[1]; ++a)
      for (int64_t b = 0; b < shape[2]; ++b)
        for (int64_t d = 0; d < shape[3]; ++d, ++i) {
          const uint8_t v = nhwc ? pixel(n, d, a, b) : pixel(n, a, b, d);
          if (dtype == DType::u8) t.data<uint8_t>()[i] = v;
          else t.data<float>()[i] = float(v) / 100.0f;
        }
  return t;
}

Tensor labels_tensor(std::vector<int32_t> v) {
  Tensor t = Tensor::empty({int64_t(v.size())}, DType::s32);
  std::copy(v.begin(), v.end(), t.data<int32_t>());
  return t;
}

// Writes an int64 label dataset with the HDF5 C API (h5py's default integer type).
void write_int64_labels(const std::string& path, const std::vector<int64_t>& labels) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  const hsize_t n = labels.size();
  const hid_t space = H5Screate_simple(1, &n, nullptr);
  const hid_t ds = H5Dcreate2(file, "labels", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.data());
  H5Dclose(ds);
  H5Sclose(space);
  H5Fclose(file);
}

void expect_hdf5_contents(const Dataset& d, DType dtype) {
  ASSERT_EQ(d.size(), 2);
  EXPECT_EQ(d.sample_shape(), (SampleShape{3, 4, 5}));
  std::vector<float> s(60);
  int32_t label;
  for (int64_t n = 0; n < 2; ++n) {
    d.get(n, s.data(), &label);
    EXPECT_EQ(label, n == 0 ? 2 : 0);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t h = 0; h < 4; ++h)
        for (int64_t w = 0; w < 5; ++w) {
          const float v = dtype == DType::u8 ? float(pixel(n, c, h, w)) / 255.0f : float(pixel(n, c, h, w)) / 100.0f;
          ASSERT_EQ(s[size_t((c * 4 + h) * 5 + w)], v) << n << c << h << w;
        }
  }
}

TEST(DatasetHdf5, ReadsBothLayoutsAndDtypes) {
  TempDir dir("hdf5");
  {  // NCHW uint8, layout from the shape (dim 1 = 3 channels, dim 3 = 5).
    h5::File f = h5::File::create(dir.file("nchw.h5"));
    f.write("images", images_tensor(false, DType::u8));
    f.write("labels", labels_tensor({2, 0}));
  }
  {  // NHWC float32 with int64 labels, layout from the shape (dim 3 = 3 channels).
    h5::File f = h5::File::create(dir.file("nhwc.h5"));
    f.write("images", images_tensor(true, DType::f32));
  }
  write_int64_labels(dir.file("nhwc.h5"), {2, 0});
  const auto nchw = load_hdf5_dataset(dir.file("nchw.h5"));
  expect_hdf5_contents(*nchw, DType::u8);
  EXPECT_EQ(nchw->name(), "nchw");
  EXPECT_EQ(nchw->num_classes(), 3);  // max label + 1
  expect_hdf5_contents(*load_hdf5_dataset(dir.file("nhwc.h5")), DType::f32);
  Hdf5DatasetOptions explicit_layout;
  explicit_layout.layout = ImageLayout::nhwc;
  explicit_layout.num_classes = 10;
  const auto nhwc = load_hdf5_dataset(dir.file("nhwc.h5"), explicit_layout);
  expect_hdf5_contents(*nhwc, DType::f32);
  EXPECT_EQ(nhwc->num_classes(), 10);
}

TEST(DatasetHdf5, LayoutAndClassCountFromAttributes) {
  TempDir dir("hdf5_attrs");
  // [2, 3, 3, 3]: ambiguous from the shape alone.
  Tensor images = Tensor::empty({2, 3, 3, 3}, DType::u8);
  for (int64_t i = 0; i < images.numel(); ++i) images.data<uint8_t>()[i] = uint8_t(i);
  {
    h5::File f = h5::File::create(dir.file("ambiguous.h5"));
    f.write("images", images);
    f.write("labels", labels_tensor({1, 0}));
  }
  expect_error([&] { load_hdf5_dataset(dir.file("ambiguous.h5")); }, {dir.file("ambiguous.h5"), "ambiguous"});
  {
    h5::File f = h5::File::create(dir.file("tagged.h5"));
    f.write("images", images);
    f.write("labels", labels_tensor({1, 0}));
    f.set_attr("images", "layout", std::string("NHWC"));
    f.set_attr("/", "num_classes", int64_t(5));
  }
  const auto d = load_hdf5_dataset(dir.file("tagged.h5"));
  EXPECT_EQ(d->num_classes(), 5);
  std::vector<float> s(27);
  int32_t label;
  d->get(1, s.data(), &label);
  // NHWC element (n=1, h=0, w=2, c=1) is byte 27 + (0 * 3 + 2) * 3 + 1 = 34; in CHW at c*9 + h*3 + w = 11.
  EXPECT_EQ(s[11], 34.0f / 255.0f);
  EXPECT_EQ(label, 0);
}

TEST(DatasetHdf5, ErrorsNameTheFile) {
  TempDir dir("hdf5_errors");
  {
    h5::File f = h5::File::create(dir.file("count.h5"));
    f.write("images", images_tensor(false, DType::u8));
    f.write("labels", labels_tensor({2, 0, 1}));
  }
  expect_error([&] { load_hdf5_dataset(dir.file("count.h5")); }, {dir.file("count.h5"), "2 images", "3 labels"});
  {
    h5::File f = h5::File::create(dir.file("range.h5"));
    f.write("images", images_tensor(false, DType::u8));
    f.write("labels", labels_tensor({2, 7}));
    f.set_attr("labels", "num_classes", int64_t(5));
  }
  expect_error([&] { load_hdf5_dataset(dir.file("range.h5")); }, {dir.file("range.h5"), "label 7", "out of range"});
  {
    h5::File f = h5::File::create(dir.file("negative.h5"));
    f.write("images", images_tensor(false, DType::u8));
    f.write("labels", labels_tensor({-1, 0}));
  }
  expect_error([&] { load_hdf5_dataset(dir.file("negative.h5")); }, {dir.file("negative.h5"), "label -1"});
  {
    h5::File f = h5::File::create(dir.file("nolabels.h5"));
    f.write("images", images_tensor(false, DType::u8));
  }
  expect_error([&] { load_hdf5_dataset(dir.file("nolabels.h5")); }, {dir.file("nolabels.h5"), "'labels'"});
  {
    h5::File f = h5::File::create(dir.file("s8.h5"));
    f.write("images", Tensor::zeros({2, 3, 4, 5}, DType::s8));
    f.write("labels", labels_tensor({0, 0}));
  }
  expect_error([&] { load_hdf5_dataset(dir.file("s8.h5")); }, {dir.file("s8.h5"), "uint8 or float32"});
  fs::copy_file(dir.file("count.h5"), dir.file("truncated.h5"));
  fs::resize_file(dir.file("truncated.h5"), 200);
  expect_error([&] { load_hdf5_dataset(dir.file("truncated.h5")); }, {dir.file("truncated.h5")});
}

}  // namespace
}  // namespace lpt::data
