#include "datasets/cifar.h"

#include <filesystem>

#include "datasets/file_io.h"

namespace lpt::data {

namespace {
constexpr int64_t kPixels = 3 * 32 * 32;

// dir itself when it holds `probe`, else dir/<extracted> when that does.
std::string locate(const std::string& dir, const std::string& extracted, const std::string& probe) {
  if (std::filesystem::exists(dir + "/" + probe)) return dir;
  const std::string inner = dir + "/" + extracted;
  LPT_CHECK(std::filesystem::exists(inner + "/" + probe), "CIFAR directory '", dir, "': no '", probe,
            "' in it or in '", inner, "'");
  return inner;
}
}  // namespace

std::shared_ptr<InMemoryDataset> load_cifar_binary(const std::vector<std::string>& files, int label_bytes,
                                                   int num_classes, const std::string& name) {
  LPT_CHECK(!files.empty(), "CIFAR dataset '", name, "': no files given");
  const int64_t record = label_bytes + kPixels;
  std::vector<std::vector<uint8_t>> contents;
  int64_t total = 0;
  for (const std::string& path : files) {
    contents.push_back(read_file_maybe_gzip(path));
    const int64_t size = int64_t(contents.back().size());
    LPT_CHECK(size > 0 && size % record == 0, "CIFAR file '", path, "' is truncated or not CIFAR: ", size,
              " bytes is not a whole number of ", record, "-byte records");
    total += size / record;
  }
  Tensor images = Tensor::empty({total, 3, 32, 32}, DType::u8);
  std::vector<int32_t> labels;
  labels.reserve(size_t(total));
  uint8_t* dst = images.data<uint8_t>();
  for (size_t f = 0; f < files.size(); ++f) {
    const std::vector<uint8_t>& bytes = contents[f];
    for (size_t r = 0; r < bytes.size(); r += size_t(record)) {
      const int32_t label = bytes[r + size_t(label_bytes) - 1];
      LPT_CHECK(label < num_classes, "CIFAR file '", files[f], "': label ", label, " of record ", r / size_t(record),
                " out of range [0, ", num_classes, ")");
      labels.push_back(label);
      std::copy(bytes.begin() + int64_t(r) + label_bytes, bytes.begin() + int64_t(r) + record, dst);
      dst += kPixels;
    }
  }
  return std::make_shared<InMemoryDataset>(name, files.front(), std::move(images), std::move(labels), num_classes);
}

std::shared_ptr<InMemoryDataset> load_cifar10(const std::string& dir, bool train) {
  const std::string root = locate(dir, "cifar-10-batches-bin", train ? "data_batch_1.bin" : "test_batch.bin");
  std::vector<std::string> files;
  if (train) {
    for (int i = 1; i <= 5; ++i) files.push_back(root + "/data_batch_" + std::to_string(i) + ".bin");
  } else {
    files.push_back(root + "/test_batch.bin");
  }
  return load_cifar_binary(files, 1, 10, train ? "cifar10/train" : "cifar10/test");
}

std::shared_ptr<InMemoryDataset> load_cifar100(const std::string& dir, bool train) {
  const std::string file = train ? "train.bin" : "test.bin";
  const std::string root = locate(dir, "cifar-100-binary", file);
  return load_cifar_binary({root + "/" + file}, 2, 100, train ? "cifar100/train" : "cifar100/test");
}

}  // namespace lpt::data
