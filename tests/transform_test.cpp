// Transforms on small images: exact crops and flips, normalization, torchvision's resize
// (reference values from PyTorch), RandomResizedCrop windows, and per-sample determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "datasets/resize.h"
#include "datasets/transforms.h"

namespace lpt::data {
namespace {

// Distinct nonzero values so that a crop's position can be recovered from its output.
std::vector<float> ramp(const SampleShape& s) {
  std::vector<float> v(size_t(s.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i + 1);
  return v;
}

std::vector<float> run(const Transform& t, const std::vector<float>& in, const SampleShape& s, uint64_t stream_seed,
                       uint64_t stream) {
  std::vector<float> out(size_t(t.output_shape(s).numel()));
  t.apply(in.data(), s, out.data(), RandomStream(stream_seed, stream));
  return out;
}

TEST(Transform, NormalizeIsPerChannel) {
  const SampleShape s{2, 1, 3};
  const Normalize n({0.5f, 1.0f}, {0.25f, 2.0f});
  const std::vector<float> out = run(n, {0.0f, 0.5f, 1.0f, 1.0f, 3.0f, -1.0f}, s, 0, 0);
  EXPECT_EQ(out, (std::vector<float>{-2.0f, 0.0f, 2.0f, 0.0f, 1.0f, -1.0f}));
  EXPECT_THROW(n.output_shape({3, 1, 1}), Error);
  EXPECT_THROW(Normalize({0.5f}, {0.0f}), Error);
}

TEST(Transform, RandomCropTakesEveryPaddedWindowExactly) {
  const SampleShape s{2, 4, 4};
  const std::vector<float> in = ramp(s);
  const RandomCrop crop(4, 2);
  EXPECT_EQ(crop.output_shape(s), s);
  std::map<std::pair<int, int>, int> seen;
  for (uint64_t key = 0; key < 1000; ++key) {
    const std::vector<float> out = run(crop, in, s, 3, key);
    // Find the window (top, left) of the zero-padded image this output is.
    int matches = 0;
    for (int top = -2; top <= 2; ++top) {
      for (int left = -2; left <= 2; ++left) {
        bool same = true;
        for (int c = 0; c < 2 && same; ++c)
          for (int y = 0; y < 4 && same; ++y)
            for (int x = 0; x < 4 && same; ++x) {
              const int sy = top + y, sx = left + x;
              const float expected = (sy < 0 || sy >= 4 || sx < 0 || sx >= 4) ? 0.0f : in[size_t((c * 4 + sy) * 4 + sx)];
              same = out[size_t((c * 4 + y) * 4 + x)] == expected;
            }
        if (same) {
          ++matches;
          ++seen[{top, left}];
        }
      }
    }
    ASSERT_EQ(matches, 1) << "key " << key;
  }
  ASSERT_EQ(seen.size(), 25u);  // all 5 x 5 offsets, each about 40 times
  for (const auto& [offset, count] : seen) EXPECT_NEAR(count, 40, 22);
  EXPECT_THROW(RandomCrop(9, 2).output_shape(s), Error);
}

TEST(Transform, HorizontalFlipMirrorsRowsHalfTheTime) {
  const SampleShape s{2, 3, 4};
  const std::vector<float> in = ramp(s);
  std::vector<float> mirrored(in.size());
  for (int r = 0; r < 6; ++r)
    for (int x = 0; x < 4; ++x) mirrored[size_t(r * 4 + x)] = in[size_t(r * 4 + 3 - x)];
  const RandomHorizontalFlip flip(0.5f);
  int flipped = 0;
  for (uint64_t key = 0; key < 1000; ++key) {
    const std::vector<float> out = run(flip, in, s, 11, key);
    ASSERT_TRUE(out == in || out == mirrored);
    flipped += out == mirrored;
  }
  EXPECT_NEAR(flipped, 500, 60);
  EXPECT_EQ(run(RandomHorizontalFlip(1.0f), in, s, 0, 0), mirrored);
  EXPECT_EQ(run(RandomHorizontalFlip(0.0f), in, s, 0, 0), in);
}

TEST(Transform, CenterCropMatchesTorchvision) {
  const SampleShape s{1, 5, 6};
  const std::vector<float> in = ramp(s);
  // torchvision: top = round((5 - 3) / 2) = 1, left = round((6 - 3) / 2) = round(1.5) = 2.
  const std::vector<float> out = run(CenterCrop(3), in, s, 0, 0);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 3; ++x) EXPECT_EQ(out[size_t(y * 3 + x)], in[size_t((y + 1) * 6 + x + 2)]);
  // Smaller than the crop: zero-padded by (7 - 5) // 2 = 1 above and (7 - 6) // 2 = 0 left.
  const std::vector<float> padded = run(CenterCrop(7), in, s, 0, 0);
  for (int y = 0; y < 7; ++y)
    for (int x = 0; x < 7; ++x) {
      const int sy = y - 1, sx = x;
      const float expected = (sy >= 0 && sy < 5 && sx < 6) ? in[size_t(sy * 6 + sx)] : 0.0f;
      EXPECT_EQ(padded[size_t(y * 7 + x)], expected) << y << "," << x;
    }
}

// The 6x8 image x[i] = (i * 7 mod 23) / 22 used for the PyTorch references.
std::vector<float> reference_image() {
  std::vector<float> v(48);
  for (int i = 0; i < 48; ++i) v[size_t(i)] = float((i * 7) % 23) / 22.0f;
  return v;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, float tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

TEST(Transform, ResizeMatchesPytorchAntialiasedBilinear) {
  // import torch, torch.nn.functional as F
  // x = (torch.arange(48.).reshape(1, 1, 6, 8) * 7 % 23) / 22
  // F.interpolate(x, size=(3, 4), mode="bilinear", align_corners=False, antialias=True)
  // F.interpolate(x, size=(4, 5), ...)  and, enlarging, z = [[0, 1, .5], [.25, .75, 1]] to (5, 4)
  const std::vector<float> x = reference_image();
  std::vector<float> out(12);
  resize_bilinear(whole_image(x.data(), {1, 6, 8}), 3, 4, out.data());
  expect_close(out, {0.402597f, 0.504058f, 0.580357f, 0.489796f, 0.523539f, 0.526989f, 0.526278f, 0.429383f,
                     0.425789f, 0.503247f, 0.542208f, 0.44898f},
               2e-6f);
  out.resize(20);
  resize_bilinear(whole_image(x.data(), {1, 6, 8}), 4, 5, out.data());
  expect_close(out, {0.30062f, 0.492845f, 0.565341f, 0.637837f, 0.443957f, 0.584481f, 0.444257f,
                     0.474537f, 0.559671f, 0.354913f, 0.475436f, 0.575945f, 0.555135f, 0.553685f,
                     0.472911f, 0.373192f, 0.503157f, 0.482481f, 0.483586f, 0.409608f},
               2e-6f);
  const std::vector<float> z = {0.0f, 1.0f, 0.5f, 0.25f, 0.75f, 1.0f};
  resize_bilinear(whole_image(z.data(), {1, 2, 3}), 5, 4, out.data());
  expect_close(out, {0.0f, 0.625f, 0.8125f, 0.5f, 0.025f, 0.61875f, 0.815625f, 0.55f, 0.125f, 0.59375f,
                     0.828125f, 0.75f, 0.225f, 0.56875f, 0.840625f, 0.95f, 0.25f, 0.5625f, 0.84375f, 1.0f},
               2e-6f);
  // The identity size copies; a window of a larger image resizes only that window.
  std::vector<float> same(48);
  resize_bilinear(whole_image(x.data(), {1, 6, 8}), 6, 8, same.data());
  expect_close(same, x, 0.0f);
  std::vector<float> window(6);
  resize_bilinear(crop_view(whole_image(x.data(), {1, 6, 8}), 2, 3, 2, 3), 2, 3, window.data());
  for (int y = 0; y < 2; ++y)
    for (int w = 0; w < 3; ++w) EXPECT_EQ(window[size_t(y * 3 + w)], x[size_t((y + 2) * 8 + w + 3)]);
}

TEST(Transform, ResizeScalesTheShorterSideAsTorchvision) {
  EXPECT_EQ(Resize(4).output_shape({3, 6, 8}), (SampleShape{3, 4, 5}));  // int(4 * 8 / 6) = 5
  EXPECT_EQ(Resize(4).output_shape({3, 9, 6}), (SampleShape{3, 6, 4}));
  const std::vector<float> x = reference_image();
  const std::vector<float> out = run(Resize(3), x, {1, 6, 8}, 0, 0);  // 3 x int(3 * 8 / 6) = 3x4
  expect_close(out, {0.402597f, 0.504058f, 0.580357f, 0.489796f, 0.523539f, 0.526989f, 0.526278f, 0.429383f,
                     0.425789f, 0.503247f, 0.542208f, 0.44898f},
               2e-6f);
}

TEST(Transform, RandomResizedCropWindowsFollowTorchvision) {
  const RandomResizedCrop rrc(8);
  std::set<std::pair<int64_t, int64_t>> sizes;
  for (uint64_t key = 0; key < 2000; ++key) {
    const RandomResizedCrop::Window w = rrc.window(60, 80, RandomStream(1, key));
    ASSERT_GE(w.top, 0);
    ASSERT_GE(w.left, 0);
    ASSERT_LE(w.top + w.h, 60);
    ASSERT_LE(w.left + w.w, 80);
    // Rounding h and w to integers moves area and ratio a little beyond (0.08, 1) and (3/4, 4/3).
    const double area = double(w.h * w.w) / 4800.0, ratio = double(w.w) / double(w.h);
    EXPECT_GE(area, 0.08 * 0.85);
    EXPECT_LE(area, 1.0);
    EXPECT_GE(ratio, 0.75 * 0.85);
    EXPECT_LE(ratio, 4.0 / 3.0 / 0.85);
    sizes.insert({w.h, w.w});
  }
  EXPECT_GT(sizes.size(), 300u);  // windows of many sizes

  // No attempt can fit an aspect ratio of 4..5 in a square: the central fallback, h = round(8 / 4).
  const RandomResizedCrop wide(4, 0.9f, 1.0f, 4.0f, 5.0f);
  const RandomResizedCrop::Window f = wide.window(8, 8, RandomStream(0, 0));
  EXPECT_EQ(f.h, 2);
  EXPECT_EQ(f.w, 8);
  EXPECT_EQ(f.top, 3);
  EXPECT_EQ(f.left, 0);

  // The output is the chosen window, resized.
  const std::vector<float> x = reference_image();
  const RandomResizedCrop small(4);
  for (uint64_t key = 0; key < 20; ++key) {
    const RandomStream rng(9, key);
    const RandomResizedCrop::Window w = small.window(6, 8, rng);
    std::vector<float> expected(16);
    resize_bilinear(crop_view(whole_image(x.data(), {1, 6, 8}), w.top, w.left, w.h, w.w), 4, 4, expected.data());
    std::vector<float> out(16);
    small.apply(x.data(), {1, 6, 8}, out.data(), rng);
    EXPECT_EQ(out, expected);
  }
  // Scale and ratio fixed at 1 on a square image: the whole image.
  const RandomResizedCrop whole(4, 1.0f, 1.0f, 1.0f, 1.0f);
  const RandomResizedCrop::Window all = whole.window(10, 10, RandomStream(5, 5));
  EXPECT_EQ(all.h, 10);
  EXPECT_EQ(all.w, 10);
}

TEST(Transform, PipelineRandomnessIsAPureFunctionOfSeedEpochAndIndex) {
  const SampleShape s{3, 8, 8};
  const Pipeline p({std::make_shared<RandomCrop>(8, 2), std::make_shared<RandomHorizontalFlip>(0.5f),
                    std::make_shared<Normalize>(std::vector<float>{0.1f, 0.2f, 0.3f}, std::vector<float>{1.f, 2.f, 4.f})});
  EXPECT_EQ(p.output_shape(s), s);
  EXPECT_EQ(p.describe(),
            "RandomCrop(8, padding=2) -> RandomHorizontalFlip(p=0.5) -> Normalize(mean=[0.1, 0.2, 0.3], std=[1, 2, 4])");
  auto apply = [&](SampleKey key) {
    std::vector<float> v = ramp(s), scratch;
    SampleShape shape = s;
    p.apply(v, shape, key, scratch);
    EXPECT_EQ(shape, s);
    return v;
  };
  const std::vector<float> a = apply({1, 0, 5});
  apply({1, 0, 6});  // other samples in between change nothing
  EXPECT_EQ(apply({1, 0, 5}), a);
  int differ_epoch = 0, differ_index = 0, differ_seed = 0;
  for (int64_t k = 0; k < 20; ++k) {
    differ_epoch += apply({1, k, 5}) != apply({1, k + 1, 5});
    differ_index += apply({1, 0, k}) != apply({1, 0, k + 1});
    differ_seed += apply({uint64_t(k), 0, 5}) != apply({uint64_t(k + 1), 0, 5});
  }
  // 50 (crop, flip) combinations: two keys collide with probability 1/50.
  EXPECT_GE(differ_epoch, 17);
  EXPECT_GE(differ_index, 17);
  EXPECT_GE(differ_seed, 17);

  // Shape-changing steps: the sample and its shape follow.
  const Pipeline resize({std::make_shared<Resize>(4), std::make_shared<CenterCrop>(4)});
  std::vector<float> v = reference_image(), scratch;
  SampleShape shape{1, 6, 8};
  resize.apply(v, shape, {}, scratch);
  EXPECT_EQ(shape, (SampleShape{1, 4, 4}));
  EXPECT_EQ(v.size(), 16u);
  EXPECT_EQ(Pipeline().describe(), "identity");
}

TEST(Transform, StandardPipelines) {
  const ChannelStats stats{{0.5f}, {0.25f}};
  const Pipeline train = standard_train_pipeline({1, 28, 28}, 2, true, stats);
  EXPECT_EQ(train.describe(), "RandomCrop(28, padding=2) -> RandomHorizontalFlip(p=0.5) -> Normalize(mean=[0.5], std=[0.25])");
  EXPECT_EQ(standard_train_pipeline({1, 28, 28}, 0, false, stats).describe(), "Normalize(mean=[0.5], std=[0.25])");
  EXPECT_EQ(standard_eval_pipeline(stats).describe(), "Normalize(mean=[0.5], std=[0.25])");
}

}  // namespace
}  // namespace lpt::data
