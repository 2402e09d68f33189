#include "datasets/transforms.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "datasets/resize.h"

namespace lpt::data {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform integer in [0, n) from draw i (n well below 2^24, the uniform's resolution).
int64_t uniform_int(const RandomStream& rng, uint64_t i, int64_t n) {
  return std::min<int64_t>(int64_t(double(rng.uniform(i)) * double(n)), n - 1);
}

// Copies the h x w window at (top, left) of `in`, zero where it falls outside.
void copy_window(const float* in, const SampleShape& s, int64_t top, int64_t left, int64_t h, int64_t w,
                 float* out) {
  for (int64_t c = 0; c < s.c; ++c) {
    for (int64_t y = 0; y < h; ++y) {
      float* dst = out + (c * h + y) * w;
      const int64_t sy = top + y;
      if (sy < 0 || sy >= s.h) {
        std::fill(dst, dst + w, 0.0f);
        continue;
      }
      const float* row = in + (c * s.h + sy) * s.w;
      for (int64_t x = 0; x < w; ++x) {
        const int64_t sx = left + x;
        dst[x] = (sx >= 0 && sx < s.w) ? row[sx] : 0.0f;
      }
    }
  }
}

}  // namespace

Normalize::Normalize(std::vector<float> mean, std::vector<float> std) : mean_(std::move(mean)) {
  LPT_CHECK(!mean_.empty() && mean_.size() == std.size(), "Normalize: ", mean_.size(), " means but ", std.size(),
            " standard deviations");
  for (float s : std) {
    LPT_CHECK(s > 0.0f, "Normalize: standard deviation ", s, " must be positive");
    inv_std_.push_back(1.0f / s);
  }
}

SampleShape Normalize::output_shape(const SampleShape& in) const {
  LPT_CHECK(in.c == int64_t(mean_.size()), "Normalize: sample ", sample_shape_str(in), " has ", in.c,
            " channels, the transform has statistics for ", mean_.size());
  return in;
}

void Normalize::apply(const float* in, const SampleShape& s, float* out, const RandomStream&) const {
  const int64_t plane = s.h * s.w;
  for (int64_t c = 0; c < s.c; ++c) {
    const float m = mean_[size_t(c)], r = inv_std_[size_t(c)];
    for (int64_t k = 0; k < plane; ++k) out[c * plane + k] = (in[c * plane + k] - m) * r;
  }
}

std::string Normalize::describe() const {
  std::ostringstream os;
  os << "Normalize(mean=[";
  for (size_t c = 0; c < mean_.size(); ++c) os << (c ? ", " : "") << mean_[c];
  os << "], std=[";
  for (size_t c = 0; c < inv_std_.size(); ++c) os << (c ? ", " : "") << 1.0f / inv_std_[c];
  os << "])";
  return os.str();
}

RandomCrop::RandomCrop(int64_t size, int64_t padding) : size_(size), padding_(padding) {
  LPT_CHECK(size > 0 && padding >= 0, "RandomCrop: size ", size, " and padding ", padding, " must be positive");
}

SampleShape RandomCrop::output_shape(const SampleShape& in) const {
  LPT_CHECK(in.h + 2 * padding_ >= size_ && in.w + 2 * padding_ >= size_, "RandomCrop: ", size_, "x", size_,
            " crop larger than the padded sample ", sample_shape_str(in));
  return {in.c, size_, size_};
}

void RandomCrop::apply(const float* in, const SampleShape& s, float* out, const RandomStream& rng) const {
  const int64_t top = uniform_int(rng, 0, s.h + 2 * padding_ - size_ + 1);
  const int64_t left = uniform_int(rng, 1, s.w + 2 * padding_ - size_ + 1);
  copy_window(in, s, top - padding_, left - padding_, size_, size_, out);
}

std::string RandomCrop::describe() const {
  return "RandomCrop(" + std::to_string(size_) + ", padding=" + std::to_string(padding_) + ")";
}

RandomHorizontalFlip::RandomHorizontalFlip(float p) : p_(p) {
  LPT_CHECK(p >= 0.0f && p <= 1.0f, "RandomHorizontalFlip: p = ", p, " outside [0, 1]");
}

void RandomHorizontalFlip::apply(const float* in, const SampleShape& s, float* out, const RandomStream& rng) const {
  const bool flip = rng.uniform(0) < p_;
  for (int64_t row = 0; row < s.c * s.h; ++row) {
    const float* src = in + row * s.w;
    float* dst = out + row * s.w;
    if (flip) {
      std::reverse_copy(src, src + s.w, dst);
    } else {
      std::copy(src, src + s.w, dst);
    }
  }
}

std::string RandomHorizontalFlip::describe() const {
  std::ostringstream os;
  os << "RandomHorizontalFlip(p=" << p_ << ")";
  return os.str();
}

RandomResizedCrop::RandomResizedCrop(int64_t size, float scale_lo, float scale_hi, float ratio_lo, float ratio_hi)
    : size_(size), scale_lo_(scale_lo), scale_hi_(scale_hi), ratio_lo_(ratio_lo), ratio_hi_(ratio_hi) {
  LPT_CHECK(size > 0 && scale_lo > 0.0f && scale_lo <= scale_hi && ratio_lo > 0.0f && ratio_lo <= ratio_hi,
            "RandomResizedCrop: invalid size ", size, ", scale (", scale_lo, ", ", scale_hi, ") or ratio (", ratio_lo,
            ", ", ratio_hi, ")");
}

SampleShape RandomResizedCrop::output_shape(const SampleShape& in) const { return {in.c, size_, size_}; }

RandomResizedCrop::Window RandomResizedCrop::window(int64_t height, int64_t width, const RandomStream& rng) const {
  const double area = double(height) * double(width);
  const double log_lo = std::log(double(ratio_lo_)), log_hi = std::log(double(ratio_hi_));
  for (uint64_t attempt = 0; attempt < 10; ++attempt) {
    const uint64_t d = 4 * attempt;  // four draws per attempt
    const double target_area = area * (scale_lo_ + double(rng.uniform(d)) * (scale_hi_ - scale_lo_));
    const double aspect = std::exp(log_lo + double(rng.uniform(d + 1)) * (log_hi - log_lo));
    const int64_t w = int64_t(std::nearbyint(std::sqrt(target_area * aspect)));
    const int64_t h = int64_t(std::nearbyint(std::sqrt(target_area / aspect)));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return {uniform_int(rng, d + 2, height - h + 1), uniform_int(rng, d + 3, width - w + 1), h, w};
    }
  }
  // torchvision's fallback: the central crop with the aspect ratio clamped into range.
  const double in_ratio = double(width) / double(height);
  int64_t w = width, h = height;
  if (in_ratio < ratio_lo_) {
    h = int64_t(std::nearbyint(double(w) / ratio_lo_));
  } else if (in_ratio > ratio_hi_) {
    w = int64_t(std::nearbyint(double(h) * ratio_hi_));
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

void RandomResizedCrop::apply(const float* in, const SampleShape& s, float* out, const RandomStream& rng) const {
  const Window win = window(s.h, s.w, rng);
  resize_bilinear(crop_view(whole_image(in, s), win.top, win.left, win.h, win.w), size_, size_, out);
}

std::string RandomResizedCrop::describe() const {
  std::ostringstream os;
  os << "RandomResizedCrop(" << size_ << ", scale=(" << scale_lo_ << ", " << scale_hi_ << "), ratio=(" << ratio_lo_
     << ", " << ratio_hi_ << "))";
  return os.str();
}

Resize::Resize(int64_t shorter_side) : size_(shorter_side) {
  LPT_CHECK(shorter_side > 0, "Resize: size ", shorter_side, " must be positive");
}

SampleShape Resize::output_shape(const SampleShape& in) const {
  if (in.h <= in.w) return {in.c, size_, int64_t(double(size_) * double(in.w) / double(in.h))};
  return {in.c, int64_t(double(size_) * double(in.h) / double(in.w)), size_};
}

void Resize::apply(const float* in, const SampleShape& s, float* out, const RandomStream&) const {
  const SampleShape o = output_shape(s);
  resize_bilinear(whole_image(in, s), o.h, o.w, out);
}

std::string Resize::describe() const { return "Resize(" + std::to_string(size_) + ")"; }

CenterCrop::CenterCrop(int64_t size) : size_(size) {
  LPT_CHECK(size > 0, "CenterCrop: size ", size, " must be positive");
}

SampleShape CenterCrop::output_shape(const SampleShape& in) const { return {in.c, size_, size_}; }

void CenterCrop::apply(const float* in, const SampleShape& s, float* out, const RandomStream&) const {
  // torchvision: top = int(round((H - size) / 2.0)) (round half to even); a smaller image is
  // first zero-padded by (size - H) // 2 above.
  auto offset = [&](int64_t extent) {
    return extent >= size_ ? int64_t(std::nearbyint(double(extent - size_) / 2.0)) : -((size_ - extent) / 2);
  };
  copy_window(in, s, offset(s.h), offset(s.w), size_, size_, out);
}

std::string CenterCrop::describe() const { return "CenterCrop(" + std::to_string(size_) + ")"; }

SampleShape Pipeline::output_shape(SampleShape in) const {
  for (const auto& t : steps_) in = t->output_shape(in);
  return in;
}

void Pipeline::apply(std::vector<float>& sample, SampleShape& shape, const SampleKey& key,
                     std::vector<float>& scratch) const {
  const uint64_t stream = (uint64_t(key.epoch) << 40) + uint64_t(key.index);
  for (size_t i = 0; i < steps_.size(); ++i) {
    const SampleShape out_shape = steps_[i]->output_shape(shape);
    scratch.resize(size_t(out_shape.numel()));
    const RandomStream rng(splitmix64(key.seed + 0x9E3779B97F4A7C15ull * (i + 1)), stream);
    steps_[i]->apply(sample.data(), shape, scratch.data(), rng);
    sample.swap(scratch);
    shape = out_shape;
  }
}

std::string Pipeline::describe() const {
  std::string s;
  for (size_t i = 0; i < steps_.size(); ++i) s += (i ? " -> " : "") + steps_[i]->describe();
  return s.empty() ? "identity" : s;
}

Pipeline standard_train_pipeline(const SampleShape& shape, int64_t crop_padding, bool flip,
                                 const ChannelStats& stats) {
  std::vector<std::shared_ptr<const Transform>> steps;
  if (crop_padding > 0) steps.push_back(std::make_shared<RandomCrop>(shape.h, crop_padding));
  if (flip) steps.push_back(std::make_shared<RandomHorizontalFlip>(0.5f));
  steps.push_back(std::make_shared<Normalize>(stats.mean, stats.std));
  return Pipeline(std::move(steps));
}

Pipeline standard_eval_pipeline(const ChannelStats& stats) {
  return Pipeline({std::make_shared<Normalize>(stats.mean, stats.std)});
}

}  // namespace lpt::data
