#pragma once
// MNIST / Fashion-MNIST in the IDX format (http://yann.lecun.com/exdb/mnist/), plain or gzip.
#include <memory>
#include <string>

#include "datasets/dataset.h"

namespace lpt::data {

// Debian's dataset-fashion-mnist package puts the four .gz files here.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// An IDX image file (magic 0x00000803: uint8 [N, H, W]) and label file (magic 0x00000801: uint8
// [N]), each plain or gzip. Images become u8 [N, 1, H, W]. Errors name the file: bad magic number,
// truncated data, image/label count mismatch, label >= num_classes.
std::shared_ptr<InMemoryDataset> load_idx(const std::string& images_path, const std::string& labels_path,
                                          const std::string& name, int num_classes = 10);

// An MNIST-style directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte, each with or
// without a .gz suffix (the plain file wins when both exist). name: "<name>/train" or "<name>/test".
std::shared_ptr<InMemoryDataset> load_mnist_dir(const std::string& dir, bool train,
                                                const std::string& name = "mnist");

}  // namespace lpt::data
