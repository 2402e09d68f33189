#include "tests/fuzz/fuzz_support.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "core/ops/shape.h"
#include "experiments/experiment_config.h"
#include "experiments/quantization_setup.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"

namespace lpt::fuzz {

MemFile::MemFile(const uint8_t* data, size_t size) {
  // A named file, since HDF5 does not open /proc/self/fd paths of a memfd; in /dev/shm (memory)
  // where there is one.
  const std::filesystem::path dir =
      std::filesystem::is_directory("/dev/shm") ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path();
  std::string name = (dir / "lpt-fuzz-XXXXXX").string();
  fd_ = mkstemp(name.data());
  LPT_CHECK(fd_ >= 0, "cannot create a file for the fuzz input in ", dir.string());
  path_ = name;
  for (size_t done = 0; done < size;) {
    const ssize_t n = write(fd_, data + done, size - done);
    LPT_CHECK(n > 0, "writing the fuzz input to ", path_, " failed");
    done += size_t(n);
  }
}

MemFile::~MemFile() {
  close(fd_);
  unlink(path_.c_str());
}

namespace {

class Tiny : public Module {
 public:
  Tiny() {
    conv_ = register_module("conv", std::make_shared<Conv2d>(Conv2dOptions{1, 4, 3, 1, 1, 1, 1, false}));
    bn_ = register_module("bn", std::make_shared<BatchNorm2d>(4));
    fc_ = register_module("fc", std::make_shared<Linear>(64, 3));
  }
  Variable forward(const Variable& x) override {
    return fc_->forward(ops::flatten(bn_->forward(conv_->forward(x))));
  }

 private:
  std::shared_ptr<Conv2d> conv_;
  std::shared_ptr<BatchNorm2d> bn_;
  std::shared_ptr<Linear> fc_;
};

}  // namespace

TinyModel tiny_model(bool quantized) {
  nlohmann::json raw = nlohmann::json::object();
  if (quantized)
    raw["quantization"] = {{"weights", {{"type", "int"}, {"bits", 4}, {"granularity", "channel"}}},
                           {"activations", {{"type", "int"}, {"bits", 8}}}};
  TinyModel t;
  t.config = resolve_experiment(raw, "fuzz");
  t.model = std::make_shared<Tiny>();
  t.model->name_modules();
  t.model->initialize(0);
  apply_quantization(*t.model, t.config, 0);
  t.optimizers = make_optimizers(t.config, *t.model, 10);
  return t;
}

}  // namespace lpt::fuzz
