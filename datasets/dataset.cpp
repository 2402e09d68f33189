#include "datasets/dataset.h"

#include <algorithm>
#include <cmath>

#include "core/philox.h"

namespace lpt::data {

std::string sample_shape_str(const SampleShape& s) {
  return shape_str({s.c, s.h, s.w});
}

const std::array<float, 256> kByteToUnit = [] {
  std::array<float, 256> t{};
  for (int b = 0; b < 256; ++b) t[size_t(b)] = float(b) / 255.0f;
  return t;
}();

void check_index(const Dataset& d, int64_t index) {
  LPT_CHECK(index >= 0 && index < d.size(), "dataset '", d.name(), "': sample index ", index,
            " out of range [0, ", d.size(), ")");
}

InMemoryDataset::InMemoryDataset(std::string name, std::string path, Tensor images,
                                 std::vector<int32_t> labels, int num_classes)
    : name_(std::move(name)), path_(std::move(path)), images_(std::move(images)),
      labels_(std::move(labels)), num_classes_(num_classes) {
  LPT_CHECK(images_.ndim() == 4 && images_.is_contiguous() &&
                (images_.dtype() == DType::u8 || images_.dtype() == DType::f32),
            "dataset '", name_, "' (", path_, "): images must be a contiguous u8 or f32 [N, C, H, W] tensor, got ",
            images_.describe());
  LPT_CHECK(images_.size(0) == int64_t(labels_.size()), "dataset '", name_, "' (", path_, "): ",
            images_.size(0), " images but ", labels_.size(), " labels");
  LPT_CHECK(num_classes_ > 0, "dataset '", name_, "' (", path_, "): num_classes must be positive");
  for (size_t i = 0; i < labels_.size(); ++i) {
    LPT_CHECK(labels_[i] >= 0 && labels_[i] < num_classes_, "dataset '", name_, "' (", path_, "): label ",
              labels_[i], " of sample ", i, " out of range [0, ", num_classes_, ")");
  }
  shape_ = {images_.size(1), images_.size(2), images_.size(3)};
}

void InMemoryDataset::get(int64_t index, float* chw_out, int32_t* label) const {
  check_index(*this, index);
  const int64_t n = shape_.numel();
  if (images_.dtype() == DType::u8) {
    const uint8_t* src = images_.data<uint8_t>() + index * n;
    for (int64_t i = 0; i < n; ++i) chw_out[i] = kByteToUnit[src[i]];
  } else {
    const float* src = images_.data<float>() + index * n;
    std::copy(src, src + n, chw_out);
  }
  *label = labels_[size_t(index)];
}

Subset::Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices, std::string name)
    : base_(std::move(base)), indices_(std::move(indices)), name_(std::move(name)) {
  for (int64_t i : indices_) check_index(*base_, i);
}

void Subset::get(int64_t index, float* chw_out, int32_t* label) const {
  check_index(*this, index);
  base_->get(indices_[size_t(index)], chw_out, label);
}

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed, uint64_t stream) {
  LPT_CHECK(n >= 0 && n <= (int64_t(1) << 32), "seeded_permutation: n = ", n, " out of range");
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  const RandomStream rng(seed, stream);
  std::array<uint32_t, 4> block{};
  for (int64_t i = n - 1, draw = 0; i > 0; --i, ++draw) {
    if ((draw & 3) == 0) block = rng.bits4(uint64_t(draw) >> 2);
    // j uniform in [0, i] by multiply-shift (Lemire); the bias is below 2^-32 * n.
    const int64_t j = int64_t((uint64_t(block[draw & 3]) * uint64_t(i + 1)) >> 32);
    std::swap(p[size_t(i)], p[size_t(j)]);
  }
  return p;
}

TrainValSplit split_train_val(std::shared_ptr<const Dataset> full, int64_t val_size, uint64_t seed) {
  const int64_t n = full->size();
  LPT_CHECK(val_size >= 0 && val_size < n, "split_train_val: validation size ", val_size,
            " must be in [0, ", n, ") for dataset '", full->name(), "'");
  const std::vector<int64_t> perm = seeded_permutation(n, seed, stable_hash("train_val_split"));
  std::vector<int64_t> val(perm.begin(), perm.begin() + val_size);
  std::vector<int64_t> train(perm.begin() + val_size, perm.end());
  std::sort(val.begin(), val.end());
  std::sort(train.begin(), train.end());
  const std::string name = full->name();
  return {std::make_shared<Subset>(full, std::move(train), name + "[train]"),
          std::make_shared<Subset>(full, std::move(val), name + "[val]")};
}

ChannelStats channel_stats(const Dataset& d, int64_t max_samples) {
  const SampleShape s = d.sample_shape();
  const int64_t n = max_samples > 0 ? std::min(max_samples, d.size()) : d.size();
  LPT_CHECK(n > 0, "channel_stats: dataset '", d.name(), "' is empty");
  std::vector<double> sum(size_t(s.c), 0.0), sum_sq(size_t(s.c), 0.0);
  std::vector<float> sample(size_t(s.numel()));
  int32_t label;
  for (int64_t i = 0; i < n; ++i) {
    d.get(i, sample.data(), &label);
    for (int64_t c = 0; c < s.c; ++c) {
      const float* plane = sample.data() + c * s.h * s.w;
      for (int64_t k = 0; k < s.h * s.w; ++k) {
        sum[size_t(c)] += plane[k];
        sum_sq[size_t(c)] += double(plane[k]) * plane[k];
      }
    }
  }
  ChannelStats out;
  const double count = double(n) * double(s.h * s.w);
  for (int64_t c = 0; c < s.c; ++c) {
    const double mean = sum[size_t(c)] / count;
    out.mean.push_back(float(mean));
    out.std.push_back(float(std::sqrt(std::max(0.0, sum_sq[size_t(c)] / count - mean * mean))));
  }
  return out;
}

}  // namespace lpt::data
