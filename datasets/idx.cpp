#include "datasets/idx.h"

#include <filesystem>

#include "datasets/file_io.h"

namespace lpt::data {

namespace {

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// Checks the IDX header of an unsigned-byte file with `ndim` dimensions and its total size;
// returns the dimensions.
std::vector<int64_t> parse_idx_header(const std::vector<uint8_t>& bytes, const std::string& path, int ndim) {
  const uint32_t expected_magic = 0x00000800u | uint32_t(ndim);
  LPT_CHECK(bytes.size() >= 4, "IDX file '", path, "' is truncated: ", bytes.size(), " bytes, no header");
  const uint32_t magic = read_be32(bytes.data());
  LPT_CHECK(magic == expected_magic, "IDX file '", path, "' has magic number 0x", std::hex, magic,
            ", expected 0x0000080", ndim, " (unsigned bytes, ", std::dec, ndim, " dimensions)");
  const size_t header = 4 + 4 * size_t(ndim);
  LPT_CHECK(bytes.size() >= header, "IDX file '", path, "' is truncated: ", bytes.size(),
            " bytes, header needs ", header);
  std::vector<int64_t> dims;
  uint64_t count = 1;
  for (int d = 0; d < ndim; ++d) {
    dims.push_back(int64_t(read_be32(bytes.data() + 4 + 4 * d)));
    // Three 32-bit sizes can overflow 64 bits and wrap to the file's size: checked multiply.
    LPT_CHECK(!__builtin_mul_overflow(count, uint64_t(dims.back()), &count), "IDX file '", path,
              "' has a header whose sizes multiply past 2^64");
  }
  LPT_CHECK(bytes.size() - header >= count, "IDX file '", path, "' is truncated: header promises ", count,
            " bytes of data, file has ", bytes.size() - header);
  LPT_CHECK(bytes.size() - header == count, "IDX file '", path, "' has ", bytes.size() - header - count,
            " bytes after the ", count, " its header declares");
  return dims;
}

std::string existing_variant(const std::string& dir, const std::string& stem) {
  const std::string plain = dir + "/" + stem;
  if (std::filesystem::exists(plain)) return plain;
  const std::string gz = plain + ".gz";
  LPT_CHECK(std::filesystem::exists(gz), "MNIST directory '", dir, "': neither '", plain, "' nor '", gz,
            "' exists");
  return gz;
}

}  // namespace

std::shared_ptr<InMemoryDataset> load_idx(const std::string& images_path, const std::string& labels_path,
                                          const std::string& name, int num_classes) {
  const std::vector<uint8_t> image_bytes = read_file_maybe_gzip(images_path);
  const std::vector<int64_t> idims = parse_idx_header(image_bytes, images_path, 3);
  const std::vector<uint8_t> label_bytes = read_file_maybe_gzip(labels_path);
  const std::vector<int64_t> ldims = parse_idx_header(label_bytes, labels_path, 1);
  LPT_CHECK(idims[0] == ldims[0], "IDX image file '", images_path, "' has ", idims[0],
            " images but label file '", labels_path, "' has ", ldims[0], " labels");

  Tensor images = Tensor::empty({idims[0], 1, idims[1], idims[2]}, DType::u8);
  std::copy(image_bytes.begin() + 16, image_bytes.end(), images.data<uint8_t>());
  std::vector<int32_t> labels(label_bytes.begin() + 8, label_bytes.end());
  for (size_t i = 0; i < labels.size(); ++i) {
    LPT_CHECK(labels[i] < num_classes, "IDX label file '", labels_path, "': label ", labels[i], " of sample ", i,
              " out of range [0, ", num_classes, ")");
  }
  return std::make_shared<InMemoryDataset>(name, images_path, std::move(images), std::move(labels),
                                           num_classes);
}

std::shared_ptr<InMemoryDataset> load_mnist_dir(const std::string& dir, bool train, const std::string& name) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string images = existing_variant(dir, prefix + "-images-idx3-ubyte");
  const std::string labels = existing_variant(dir, prefix + "-labels-idx1-ubyte");
  return load_idx(images, labels, name + (train ? "/train" : "/test"));
}

}  // namespace lpt::data
