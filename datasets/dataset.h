#pragma once
// The dataset interface every reader implements, in-memory storage for the sets that fit in
// memory, index views (Subset) and the seeded train/validation split.
//
// A sample is C*H*W floats in CHW order (uint8 pixels scaled to [0, 1] as torchvision's ToTensor
// does; float pixels as stored) plus an int32 label in [0, num_classes). One virtual call fetches
// a whole sample, never an element.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace lpt::data {

struct SampleShape {
  int64_t c = 0, h = 0, w = 0;
  int64_t numel() const { return c * h * w; }
  bool operator==(const SampleShape&) const = default;
};
std::string sample_shape_str(const SampleShape& s);  // "[3, 32, 32]"

// float(b) / 255 for every byte b, exactly as torchvision's ToTensor divides.
extern const std::array<float, 256> kByteToUnit;

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int num_classes() const = 0;
  virtual SampleShape sample_shape() const = 0;
  // Writes sample `index` (0 <= index < size()) as sample_shape().numel() CHW floats. Safe to call
  // from several threads at once.
  virtual void get(int64_t index, float* chw_out, int32_t* label) const = 0;
  virtual std::string name() const = 0;  // "fashion-mnist/train", "cifar10/test", ...
  virtual std::string path() const = 0;  // where it was read from ("" for generated sets)
};

// Throws unless 0 <= index < size, naming the dataset.
void check_index(const Dataset& d, int64_t index);

// Images and labels held in memory: images are [N, C, H, W] contiguous u8 or f32, labels are
// N values in [0, num_classes) (checked here).
class InMemoryDataset : public Dataset {
 public:
  InMemoryDataset(std::string name, std::string path, Tensor images, std::vector<int32_t> labels,
                  int num_classes);
  int64_t size() const override { return int64_t(labels_.size()); }
  int num_classes() const override { return num_classes_; }
  SampleShape sample_shape() const override { return shape_; }
  void get(int64_t index, float* chw_out, int32_t* label) const override;
  std::string name() const override { return name_; }
  std::string path() const override { return path_; }

  const Tensor& images() const { return images_; }
  const std::vector<int32_t>& labels() const { return labels_; }

 private:
  std::string name_, path_;
  Tensor images_;
  std::vector<int32_t> labels_;
  int num_classes_;
  SampleShape shape_;
};

// The samples of `base` at `indices`, in that order.
class Subset : public Dataset {
 public:
  Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices, std::string name);
  int64_t size() const override { return int64_t(indices_.size()); }
  int num_classes() const override { return base_->num_classes(); }
  SampleShape sample_shape() const override { return base_->sample_shape(); }
  void get(int64_t index, float* chw_out, int32_t* label) const override;
  std::string name() const override { return name_; }
  std::string path() const override { return base_->path(); }

  const std::vector<int64_t>& indices() const { return indices_; }
  const Dataset& base() const { return *base_; }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> indices_;
  std::string name_;
};

// A permutation of 0..n-1 that is a pure function of (seed, stream): Fisher-Yates driven by
// Philox draws, so it is the same on every machine and thread count.
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed, uint64_t stream);

// A validation set held out from a training set: the first `val_size` entries of a seeded
// permutation of the training indices; train is the rest. Both keep ascending index order.
struct TrainValSplit {
  std::shared_ptr<Subset> train;
  std::shared_ptr<Subset> val;
};
TrainValSplit split_train_val(std::shared_ptr<const Dataset> full, int64_t val_size = 5000, uint64_t seed = 0);

// Per-channel mean and standard deviation of the sample values (population std), over the first
// `max_samples` samples (all when <= 0), accumulated in double; for a Normalize transform.
struct ChannelStats {
  std::vector<float> mean, std;
};
ChannelStats channel_stats(const Dataset& d, int64_t max_samples = 0);

}  // namespace lpt::data
