#include "datasets/load.h"

#include <algorithm>
#include <filesystem>

#include "datasets/cifar.h"
#include "datasets/idx.h"

namespace lpt::data {

std::shared_ptr<const Dataset> load_dataset(const std::string& kind, const std::string& path, bool train,
                                            const DatasetOptions& options) {
  if (kind == "fashion-mnist") return load_mnist_dir(path.empty() ? kFashionMnistDir : path, train, kind);
  if (kind == "mnist") return load_mnist_dir(path, train, kind);
  if (kind == "cifar10") return load_cifar10(path, train);
  if (kind == "cifar100") return load_cifar100(path, train);
  if (kind == "hdf5") {
    const std::string file =
        std::filesystem::is_directory(path) ? path + (train ? "/train.h5" : "/test.h5") : path;
    return load_hdf5_dataset(file, options.hdf5);
  }
  if (kind == "image-folder") {
    return std::make_shared<ImageFolderDataset>(path + (train ? "/train" : "/val"), options.folder);
  }
  if (kind == "synthetic") {
    SyntheticOptions o = options.synthetic;
    if (!train) {
      o.size = std::max<int64_t>(o.size / 6, 1);
      o.index_offset = int64_t(1) << 40;  // the same classes, other samples
      o.name += "/test";
    } else {
      o.name += "/train";
    }
    return std::make_shared<SyntheticDataset>(o);
  }
  fail("unknown dataset kind '", kind, "' (path '", path,
       "'); expected fashion-mnist, mnist, cifar10, cifar100, hdf5, image-folder or synthetic");
}

}  // namespace lpt::data
