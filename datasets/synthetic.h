#pragma once
// A generated classification set for tests and benchmarks: every class has a smooth random
// pattern (a sum of two oriented sinusoids per channel), and a sample is its class pattern,
// shifted by a random offset, plus uniform noise. Learnable, yet not trivially (noise and shifts).
// Samples are computed on request from (seed, index), so any size costs no memory.
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace lpt::data {

struct SyntheticOptions {
  int64_t size = 10000;
  int num_classes = 10;
  SampleShape shape{1, 28, 28};
  float noise = 0.25f;     // half-width of the uniform noise
  int64_t max_shift = 2;   // patterns move by up to this many pixels in each direction
  uint64_t seed = 0;         // the class patterns and the samples' noise and shifts
  int64_t index_offset = 0;  // sample i is generated as sample i + index_offset: a test set
                             // with the training set's patterns but other samples
  std::string name = "synthetic";
};

class SyntheticDataset : public Dataset {
 public:
  explicit SyntheticDataset(const SyntheticOptions& options);
  int64_t size() const override { return options_.size; }
  int num_classes() const override { return options_.num_classes; }
  SampleShape sample_shape() const override { return options_.shape; }
  // Label = index mod num_classes (balanced); values in [0, 1].
  void get(int64_t index, float* chw_out, int32_t* label) const override;
  std::string name() const override { return options_.name; }
  std::string path() const override { return ""; }

 private:
  SyntheticOptions options_;
  // Per class, the pattern on a (H + 2 max_shift) x (W + 2 max_shift) canvas, CHW.
  std::vector<float> patterns_;
};

}  // namespace lpt::data
