// Image folders of PNG and JPEG files the test encodes with libpng and libjpeg: class discovery,
// decoded values, shorter-side resize + center crop, and errors naming the file.
#include <gtest/gtest.h>

// jpeglib.h needs FILE and size_t declared before it.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <jpeglib.h>
#include <png.h>

#include "datasets/image_decode.h"
#include "datasets/image_folder.h"
#include "datasets/loader.h"
#include "datasets/resize.h"
#include "tests/support/test_helpers.h"

namespace lpt::data {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;

// HWC pixels; channels 3 (RGB), 4 (RGBA) for PNG, 1 or 3 for JPEG.
struct Pixels {
  int h, w, channels;
  std::vector<uint8_t> data;
  uint8_t at(int y, int x, int c) const { return data[size_t((y * w + x) * channels + c)]; }
};

Pixels make_pixels(int h, int w, int channels, uint8_t (*f)(int, int, int)) {
  Pixels p{h, w, channels, {}};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) p.data.push_back(f(y, x, c));
  return p;
}

void write_png(const std::string& path, const Pixels& p) {
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  image.width = png_uint_32(p.w);
  image.height = png_uint_32(p.h);
  image.format = p.channels == 4 ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
  ASSERT_TRUE(png_image_write_to_file(&image, path.c_str(), 0, p.data.data(), 0, nullptr)) << image.message;
}

void write_jpeg(const std::string& path, const Pixels& p, int quality = 100) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, f);
  cinfo.image_width = JDIMENSION(p.w);
  cinfo.image_height = JDIMENSION(p.h);
  cinfo.input_components = p.channels;
  cinfo.in_color_space = p.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(p.data.data()) + size_t(cinfo.next_scanline) * size_t(p.w * p.channels);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::fclose(f);
}

void truncate_file(const std::string& path, double keep) {
  fs::resize_file(path, uintmax_t(double(fs::file_size(path)) * keep));
}

template <class F>
void expect_error(F f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an lpt::Error mentioning " << parts.front();
  } catch (const Error& e) {
    for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

uint8_t wide_pattern(int y, int x, int c) { return uint8_t((y * 40 + x * 5 + c * 70) % 256); }
uint8_t tall_pattern(int y, int x, int c) { return uint8_t(c == 3 ? 30 + 20 * x : (y * 29 + x * 11 + c * 50) % 256); }
uint8_t smooth_pattern(int y, int x, int c) { return uint8_t(20 + 6 * x + 4 * y + 30 * c); }  // <= 230 on 16x16
uint8_t gray_pattern(int y, int x, int) { return uint8_t(60 + 6 * x + 3 * y); }
uint8_t noise_pattern(int y, int x, int c) { return uint8_t((y * 7919 + x * 104729 + c * 31337) * 2654435761u >> 24); }

// cat/a.png (6x8 RGB), cat/b.JPG (16x16 RGB), dog/c.png (8x6 RGBA), dog/sub/d.jpeg (16x16 gray),
// dog/notes.txt (ignored).
void write_folder(const TempDir& dir) {
  write_png(dir.file("cat/a.png"), make_pixels(6, 8, 3, wide_pattern));
  write_jpeg(dir.file("cat/b.JPG"), make_pixels(16, 16, 3, smooth_pattern));
  write_png(dir.file("dog/c.png"), make_pixels(8, 6, 4, tall_pattern));
  write_jpeg(dir.file("dog/sub/d.jpeg"), make_pixels(16, 16, 1, gray_pattern));
  std::ofstream(dir.file("dog/notes.txt")) << "not an image";
}

TEST(DatasetImageFolder, FindsClassesAndFilesInSortedOrder) {
  TempDir dir("discovery");
  write_folder(dir);
  ImageFolderOptions opt;
  opt.resize = 6;
  opt.crop = 6;
  const ImageFolderDataset d(dir.path(), opt);
  EXPECT_EQ(d.classes(), (std::vector<std::string>{"cat", "dog"}));
  ASSERT_EQ(d.size(), 4);
  EXPECT_EQ(d.num_classes(), 2);
  EXPECT_EQ(d.sample_shape(), (SampleShape{3, 6, 6}));
  EXPECT_EQ(fs::path(d.file(0)).filename(), "a.png");
  EXPECT_EQ(fs::path(d.file(1)).filename(), "b.JPG");
  EXPECT_EQ(fs::path(d.file(2)).filename(), "c.png");
  EXPECT_EQ(fs::path(d.file(3)).filename(), "d.jpeg");
  EXPECT_EQ(d.label(1), 0);
  EXPECT_EQ(d.label(2), 1);
  EXPECT_EQ(d.name(), fs::path(dir.path()).filename().string());  // the root folder's name
}

TEST(DatasetImageFolder, PngPixelsAreExactAfterCenterCrop) {
  TempDir dir("png");
  write_folder(dir);
  ImageFolderOptions opt;
  opt.resize = 6;  // a.png and c.png already have a shorter side of 6: the resize is the identity
  opt.crop = 6;
  const ImageFolderDataset d(dir.path(), opt);
  std::vector<float> s(3 * 36);
  int32_t label;
  d.get(0, s.data(), &label);  // 6x8 -> columns 1..6
  EXPECT_EQ(label, 0);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 6; ++x) ASSERT_EQ(s[size_t((c * 6 + y) * 6 + x)], wide_pattern(y, x + 1, c) / 255.0f);
  d.get(2, s.data(), &label);  // 8x6 RGBA -> rows 1..6, alpha dropped
  EXPECT_EQ(label, 1);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 6; ++x) ASSERT_EQ(s[size_t((c * 6 + y) * 6 + x)], tall_pattern(y + 1, x, c) / 255.0f);
}

TEST(DatasetImageFolder, JpegIsResizedFromItsDecodedPixels) {
  TempDir dir("jpeg");
  write_folder(dir);
  const Pixels original = make_pixels(16, 16, 3, smooth_pattern);
  std::vector<float> chw(3 * 256);
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 256; ++p) chw[size_t(c * 256 + p)] = original.data[size_t(p * 3 + c)] / 255.0f;
  std::vector<float> expected(3 * 36);
  resize_bilinear(whole_image(chw.data(), {3, 16, 16}), 6, 6, expected.data());

  for (bool fast : {false, true}) {
    ImageFolderOptions opt;
    opt.resize = 6;
    opt.crop = 6;
    opt.fast_jpeg_scaling = fast;  // fast: DCT-scaled by 3/8 to 6x6 while decoding
    const ImageFolderDataset d(dir.path(), opt);
    std::vector<float> s(3 * 36);
    int32_t label;
    d.get(1, s.data(), &label);
    double max_err = 0;
    for (size_t i = 0; i < s.size(); ++i) max_err = std::max(max_err, double(std::abs(s[i] - expected[i])));
    EXPECT_LT(max_err, fast ? 0.03 : 0.015) << "fast_jpeg_scaling " << fast;
  }
  // The grayscale JPEG becomes three equal channels.
  ImageFolderOptions opt;
  opt.resize = 16;
  opt.crop = 16;
  const ImageFolderDataset d(dir.path(), opt);
  std::vector<float> s(3 * 256);
  int32_t label;
  d.get(3, s.data(), &label);
  for (int p = 0; p < 256; ++p) {
    EXPECT_EQ(s[size_t(p)], s[size_t(256 + p)]);
    EXPECT_EQ(s[size_t(p)], s[size_t(512 + p)]);
    EXPECT_NEAR(s[size_t(p)], gray_pattern(p / 16, p % 16, 0) / 255.0f, 2.5 / 255.0);
  }
}

TEST(DatasetImageFolder, JpegDctScalingKeepsTheShorterSideAboveTheTarget) {
  TempDir dir("dct");
  write_jpeg(dir.file("big.jpg"), make_pixels(48, 64, 3, smooth_pattern), 90);
  const DecodedImage full = decode_image(dir.file("big.jpg"));
  EXPECT_EQ(full.h, 48);
  EXPECT_EQ(full.w, 64);
  const DecodedImage scaled = decode_image(dir.file("big.jpg"), 12);  // 2/8 of 48 = 12
  EXPECT_EQ(scaled.h, 12);
  EXPECT_EQ(scaled.w, 16);
  const DecodedImage scaled13 = decode_image(dir.file("big.jpg"), 13);  // 3/8 of 48 = 18
  EXPECT_EQ(scaled13.h, 18);
}

TEST(DatasetImageFolder, ErrorsNameTheFile) {
  TempDir dir("errors");
  expect_error([&] { ImageFolderDataset(dir.file("missing")); }, {dir.file("missing"), "does not exist"});
  expect_error([&] { ImageFolderDataset(dir.path()); }, {dir.path(), "no class subfolders"});
  std::ofstream(dir.file("empty/readme.txt")) << "x";
  expect_error([&] { ImageFolderDataset(dir.path()); }, {"empty", "no .jpg, .jpeg or .png"});
  fs::remove_all(dir.file("empty"));

  write_png(dir.file("a/cut.png"), make_pixels(32, 32, 3, noise_pattern));
  truncate_file(dir.file("a/cut.png"), 0.5);
  write_jpeg(dir.file("a/cut.jpg"), make_pixels(32, 32, 3, noise_pattern), 95);
  truncate_file(dir.file("a/cut.jpg"), 0.5);
  std::ofstream(dir.file("a/text.jpg")) << "this is not a JPEG";
  write_jpeg(dir.file("a/zgood.jpg"), make_pixels(32, 32, 3, smooth_pattern));
  ImageFolderOptions opt;
  opt.resize = 8;
  opt.crop = 8;
  const auto d = std::make_shared<ImageFolderDataset>(dir.path(), opt);
  ASSERT_EQ(d->size(), 4);
  std::vector<float> s(3 * 64);
  int32_t label;
  expect_error([&] { d->get(0, s.data(), &label); }, {dir.file("a/cut.jpg"), "JPEG"});
  expect_error([&] { d->get(1, s.data(), &label); }, {dir.file("a/cut.png"), "PNG"});
  expect_error([&] { d->get(2, s.data(), &label); }, {dir.file("a/text.jpg"), "neither JPEG nor PNG"});
  d->get(3, s.data(), &label);

  // Through the loader's worker: the error reaches the caller, naming the file.
  LoaderOptions lo;
  lo.batch_size = 2;
  lo.shuffle = false;
  Loader loader(d, Pipeline(), lo);
  expect_error([&] { loader.next(); }, {dir.file("a/cut.jpg")});
}

}  // namespace
}  // namespace lpt::data
