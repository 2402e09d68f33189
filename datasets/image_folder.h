#pragma once
// root/<class>/<...>/<file>.jpg|jpeg|png, as torchvision's ImageFolder: classes are the sorted
// subfolder names, files are found recursively in sorted order. Images are decoded when a sample
// is requested (ImageNet does not fit in memory), so the loader's worker does the decoding.
#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/transforms.h"

namespace lpt::data {

struct ImageFolderOptions {
  int64_t resize = 256;  // the shorter side after a bilinear (antialiased) resize
  int64_t crop = 224;    // then the central crop x crop window
  // Decode JPEGs with DCT scaling down to the smallest size that still has a shorter side of at
  // least `resize` (much faster for large photos; a slightly different, still smooth, downscale).
  bool fast_jpeg_scaling = true;
  std::string name;  // default: the root folder's name
};

class ImageFolderDataset : public Dataset {
 public:
  explicit ImageFolderDataset(const std::string& root, const ImageFolderOptions& options = {});
  int64_t size() const override { return int64_t(files_.size()); }
  int num_classes() const override { return int(classes_.size()); }
  SampleShape sample_shape() const override { return {3, options_.crop, options_.crop}; }
  // Decodes the file; RGB values in [0, 1]. Errors name the file.
  void get(int64_t index, float* chw_out, int32_t* label) const override;
  std::string name() const override { return name_; }
  std::string path() const override { return root_; }

  const std::vector<std::string>& classes() const { return classes_; }
  const std::string& file(int64_t index) const { return files_[size_t(index)]; }
  int32_t label(int64_t index) const { return labels_[size_t(index)]; }

 private:
  std::string root_, name_;
  ImageFolderOptions options_;
  std::vector<std::string> classes_;
  std::vector<std::string> files_;
  std::vector<int32_t> labels_;
  Resize resize_;
  CenterCrop crop_;
};

}  // namespace lpt::data
