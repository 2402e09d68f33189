#pragma once
// Image classification data in an HDF5 file: dataset `images` (uint8 or float32; [N, C, H, W],
// [N, H, W, C] or [N, H, W]) and dataset `labels` (N integers of any width).
#include <memory>
#include <string>

#include "datasets/dataset.h"

namespace lpt::data {

enum class ImageLayout { detect, nchw, nhwc };

struct Hdf5DatasetOptions {
  std::string images_key = "images";
  std::string labels_key = "labels";
  // detect: the string attribute `layout` ("NCHW"/"NHWC") of the images dataset or of the file,
  // else the shape when only one of dims 1 and 3 can be a channel count (1 or 3).
  ImageLayout layout = ImageLayout::detect;
  // 0: the integer attribute `num_classes` of the labels dataset or of the file, else max label + 1.
  int num_classes = 0;
  std::string name;  // default: the file's stem
};

// Loads everything into memory (images stored NCHW). Errors name the file: missing datasets,
// unsupported types, ambiguous layout, count mismatch, labels out of range.
std::shared_ptr<InMemoryDataset> load_hdf5_dataset(const std::string& path, const Hdf5DatasetOptions& options = {});

}  // namespace lpt::data
