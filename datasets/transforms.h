#pragma once
// Per-sample transforms (augmentation and normalization) on CHW float images, composed into a
// Pipeline. Randomness is a pure function of (seed, epoch, sample index, position of the
// transform in the pipeline) through Philox, so a sample's augmentation is the same whatever
// thread prepares it, whether batches are prefetched, and after a resume.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/philox.h"
#include "datasets/dataset.h"

namespace lpt::data {

class Transform {
 public:
  virtual ~Transform() = default;
  virtual SampleShape output_shape(const SampleShape& in) const = 0;
  // Writes output_shape(in_shape).numel() floats to `out` (never aliases `in`). Random
  // transforms draw only from `rng`.
  virtual void apply(const float* in, const SampleShape& in_shape, float* out, const RandomStream& rng) const = 0;
  virtual std::string describe() const = 0;
};

// (x - mean[c]) / std[c] per channel.
class Normalize : public Transform {
 public:
  Normalize(std::vector<float> mean, std::vector<float> std);
  SampleShape output_shape(const SampleShape& in) const override;
  void apply(const float* in, const SampleShape& s, float* out, const RandomStream& rng) const override;
  std::string describe() const override;

 private:
  std::vector<float> mean_, inv_std_;
};

// torchvision RandomCrop(size, padding): zero-pad each side by `padding`, then take a size x size
// window at a uniformly random position.
class RandomCrop : public Transform {
 public:
  RandomCrop(int64_t size, int64_t padding);
  SampleShape output_shape(const SampleShape& in) const override;
  void apply(const float* in, const SampleShape& s, float* out, const RandomStream& rng) const override;
  std::string describe() const override;

 private:
  int64_t size_, padding_;
};

// Mirrors the image left-right with probability p.
class RandomHorizontalFlip : public Transform {
 public:
  explicit RandomHorizontalFlip(float p = 0.5f);
  SampleShape output_shape(const SampleShape& in) const override { return in; }
  void apply(const float* in, const SampleShape& s, float* out, const RandomStream& rng) const override;
  std::string describe() const override;

 private:
  float p_;
};

// torchvision RandomResizedCrop: a window of random area fraction in `scale` and aspect ratio
// (log-uniform) in `ratio`, ten tries then the central fallback, resized to size x size
// (bilinear, antialiased as for PIL images).
class RandomResizedCrop : public Transform {
 public:
  struct Window {
    int64_t top, left, h, w;
  };
  explicit RandomResizedCrop(int64_t size, float scale_lo = 0.08f, float scale_hi = 1.0f,
                             float ratio_lo = 3.0f / 4.0f, float ratio_hi = 4.0f / 3.0f);
  SampleShape output_shape(const SampleShape& in) const override;
  void apply(const float* in, const SampleShape& s, float* out, const RandomStream& rng) const override;
  std::string describe() const override;
  // The window torchvision's get_params would pick, with Philox draws in place of torch.rand.
  Window window(int64_t height, int64_t width, const RandomStream& rng) const;

 private:
  int64_t size_;
  float scale_lo_, scale_hi_, ratio_lo_, ratio_hi_;
};

// torchvision Resize(size) with an int: the shorter side becomes `size`, the longer side
// int(size * long / short) (bilinear, antialiased).
class Resize : public Transform {
 public:
  explicit Resize(int64_t shorter_side);
  SampleShape output_shape(const SampleShape& in) const override;
  void apply(const float* in, const SampleShape& s, float* out, const RandomStream& rng) const override;
  std::string describe() const override;

 private:
  int64_t size_;
};

// torchvision CenterCrop(size): the central size x size window (top = round((H - size) / 2));
// zero padding where the image is smaller.
class CenterCrop : public Transform {
 public:
  explicit CenterCrop(int64_t size);
  SampleShape output_shape(const SampleShape& in) const override;
  void apply(const float* in, const SampleShape& s, float* out, const RandomStream& rng) const override;
  std::string describe() const override;

 private:
  int64_t size_;
};

// Which sample a transform is applied to: the source of its randomness.
struct SampleKey {
  uint64_t seed = 0;
  int64_t epoch = 0;
  int64_t index = 0;  // the sample's index in the dataset the loader reads
};

// The transforms in order. Transform i of sample (seed, epoch, index) draws from
// RandomStream(mix(seed, i), epoch * 2^40 + index).
class Pipeline {
 public:
  Pipeline() = default;
  explicit Pipeline(std::vector<std::shared_ptr<const Transform>> steps) : steps_(std::move(steps)) {}
  SampleShape output_shape(SampleShape in) const;
  // Transforms `sample` (CHW floats of `shape`) in place; both are updated. `scratch` is reused
  // storage so that applying it to many samples does not allocate.
  void apply(std::vector<float>& sample, SampleShape& shape, const SampleKey& key,
             std::vector<float>& scratch) const;
  bool empty() const { return steps_.empty(); }
  std::string describe() const;  // "RandomCrop(28, padding=2) -> RandomHorizontalFlip(p=0.5) -> ..."

 private:
  std::vector<std::shared_ptr<const Transform>> steps_;
};

// The usual pipelines: training = [RandomCrop(H, pad) if pad > 0] + [flip if flip] + Normalize;
// evaluation = Normalize only.
Pipeline standard_train_pipeline(const SampleShape& shape, int64_t crop_padding, bool flip,
                                 const ChannelStats& stats);
Pipeline standard_eval_pipeline(const ChannelStats& stats);

}  // namespace lpt::data
