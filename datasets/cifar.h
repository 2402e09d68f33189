#pragma once
// CIFAR-10 and CIFAR-100 in their binary versions (https://www.cs.toronto.edu/~kriz/cifar.html).
#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace lpt::data {

// Records of `label_bytes` label bytes followed by 3*32*32 pixel bytes (CHW, RGB), from the files
// in order; the last label byte is the class. Errors name the file: a size that is not a whole
// number of records (truncated), a label >= num_classes.
std::shared_ptr<InMemoryDataset> load_cifar_binary(const std::vector<std::string>& files, int label_bytes,
                                                   int num_classes, const std::string& name);

// <dir>/data_batch_{1..5}.bin or <dir>/test_batch.bin (dir may also be the folder holding the
// extracted cifar-10-batches-bin). name: "cifar10/train" or "cifar10/test".
std::shared_ptr<InMemoryDataset> load_cifar10(const std::string& dir, bool train);

// <dir>/train.bin or <dir>/test.bin (or inside <dir>/cifar-100-binary); records carry a coarse
// and a fine label, the fine (100-class) label is used.
std::shared_ptr<InMemoryDataset> load_cifar100(const std::string& dir, bool train);

}  // namespace lpt::data
