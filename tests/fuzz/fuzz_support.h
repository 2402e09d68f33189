#pragma once
// What the libFuzzer harnesses share: an input as a file (the readers take paths), and the tiny model whose checkpoints and exports the checkpoint and export
// harnesses read (a few kB each, so that mutations reach the structure rather than tensor bytes).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "experiments/optimizer_setup.h"
#include "layers/module.h"

namespace lpt::fuzz {

// The bytes as a temporary file (in /dev/shm where there is one), removed on destruction.
class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size);
  ~MemFile();
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// conv (1 → 4 channels, 3×3) → batch norm → linear (4·4·4 → 3) on 1×4×4 inputs, named and
// initialised; quantized (INT4 per-channel weights, INT8 activations) when `quantized`.
struct TinyModel {
  std::shared_ptr<Module> model;
  nlohmann::json config;  // a resolved experiment config (defaults) holding the formats
  OptimizerSet optimizers;
};
TinyModel tiny_model(bool quantized);

}  // namespace lpt::fuzz
