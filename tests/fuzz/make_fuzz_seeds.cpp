// Writes the seed corpora of the harnesses that read binary files (tests/fuzz/corpus/<harness>/):
// small valid inputs, so that fuzzing starts from the readers' success paths. The config harness
// also reads experiments/configs, the format harness the trait table's example formats.
//   make_fuzz_seeds tests/fuzz/corpus
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <vector>

#include "core/hdf5.h"
#include "experiments/checkpoint.h"
#include "experiments/export.h"
#include "formats/format_table.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

void write(const fs::path& path, const Bytes& b) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}
Bytes read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}
void be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}
Bytes gzip(const Bytes& in) {
  Bytes out(compressBound(uLong(in.size())) + 64);
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY);  // 16: gzip wrapper
  z.next_in = const_cast<Bytef*>(in.data()), z.avail_in = uInt(in.size());
  z.next_out = out.data(), z.avail_out = uInt(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}
// The IDX harness's input: images file length (little endian), images file, labels file.
Bytes idx_input(const Bytes& images, const Bytes& labels) {
  Bytes b;
  for (int s = 0; s < 32; s += 8) b.push_back(uint8_t(images.size() >> s));
  b.insert(b.end(), images.begin(), images.end());
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_fuzz_seeds CORPUS_DIR\n";
    return 2;
  }
  const fs::path dir = argv[1];
  using namespace lpt;

  // Format JSON: the trait table's examples.
  int n = 0;
  for (const formats::FormatTraits& t : formats::format_table())
    for (const std::string& e : t.examples) write(dir / "format" / ("example" + std::to_string(n++) + ".json"), Bytes(e.begin(), e.end()));

  // IDX: three 4×5 images and their labels, plain and with gzipped images.
  Bytes images, labels;
  be32(images, 0x803), be32(images, 3), be32(images, 4), be32(images, 5);
  for (int i = 0; i < 60; ++i) images.push_back(uint8_t(i * 4));
  be32(labels, 0x801), be32(labels, 3);
  for (uint8_t l : {7, 0, 9}) labels.push_back(l);
  write(dir / "idx" / "plain", idx_input(images, labels));
  write(dir / "idx" / "gzip", idx_input(gzip(images), labels));

  // CIFAR: two records of each kind (first byte: 0 CIFAR-10, 1 CIFAR-100).
  for (const int kind : {0, 1}) {
    Bytes b{uint8_t(kind)};
    for (int r = 0; r < 2; ++r) {
      for (int l = 0; l <= kind; ++l) b.push_back(uint8_t(3 + r + l));
      for (int i = 0; i < 3072; ++i) b.push_back(uint8_t(i + r));
    }
    write(dir / "cifar" / (kind ? "cifar100" : "cifar10"), b);
  }

  // HDF5 dataset: two 3×4×4 images (NCHW uint8) and their labels.
  const fs::path tmp = fs::temp_directory_path() / "lpt-fuzz-seed.h5";
  {
    h5::File f = h5::File::create(tmp.string());
    Tensor im = Tensor::empty({2, 3, 4, 4}, DType::u8);
    for (int64_t i = 0; i < im.numel(); ++i) static_cast<uint8_t*>(im.raw_data())[i] = uint8_t(i);
    Tensor lab = Tensor::empty({2}, DType::s32);
    lab.data<int32_t>()[0] = 1, lab.data<int32_t>()[1] = 0;
    f.write("images", im);
    f.write("labels", lab);
    f.close();
  }
  write(dir / "hdf5_dataset" / "nchw_u8.h5", read(tmp));

  // A checkpoint and an export of the tiny model.
  fuzz::TinyModel t = fuzz::tiny_model(false);
  save_checkpoint(tmp.string(), *t.model, t.optimizers, TrainingProgress{}, t.config, 1);
  write(dir / "checkpoint" / "tiny.h5", read(tmp));
  fuzz::TinyModel q = fuzz::tiny_model(true);
  write_export(tmp.string(), *q.model, q.config, "fuzz", 0);
  write(dir / "export" / "tiny_int4.h5", read(tmp));
  fs::remove(tmp);
  std::printf("seeds written under %s\n", dir.c_str());
  return 0;
}
