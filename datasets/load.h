#pragma once
// One entry point from a configuration's (kind, path) to a dataset, for the experiments.
#include <memory>
#include <string>

#include "datasets/dataset.h"
#include "datasets/hdf5_dataset.h"
#include "datasets/image_folder.h"
#include "datasets/synthetic.h"

namespace lpt::data {

struct DatasetOptions {
  Hdf5DatasetOptions hdf5;
  ImageFolderOptions folder;
  SyntheticOptions synthetic;  // the training set; the test set has size / 6 other samples
};

// kind and path:
//   "fashion-mnist", "mnist": an IDX directory (fashion-mnist: kFashionMnistDir when path is "")
//   "cifar10", "cifar100":    a directory of the binary version
//   "hdf5":                   a directory holding train.h5 and test.h5, or one file for both
//   "image-folder":           a directory with train/ and val/ image folders (ImageNet layout)
//   "synthetic":              path unused
// train selects the training or the test part. Errors name the kind or the file.
std::shared_ptr<const Dataset> load_dataset(const std::string& kind, const std::string& path, bool train,
                                            const DatasetOptions& options = {});

}  // namespace lpt::data
