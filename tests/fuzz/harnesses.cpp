#include "tests/fuzz/harnesses.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/error.h"
#include "core/json_text.h"
#include "datasets/cifar.h"
#include "datasets/hdf5_dataset.h"
#include "datasets/idx.h"
#include "experiments/checkpoint.h"
#include "experiments/experiment_config.h"
#include "experiments/export.h"
#include "formats/encode.h"
#include "formats/quantize.h"
#include "tests/fuzz/fuzz_support.h"

namespace lpt::fuzz {
namespace {

// Runs f, telling lpt::Error (a clean rejection) from acceptance; anything else propagates.
// LPT_FUZZ_VERBOSE=1 prints each rejection's message (to read what a reader says of an input).
template <class F>
bool accepts(F&& f) {
  try {
    f();
    return true;
  } catch (const Error& e) {
    if (std::getenv("LPT_FUZZ_VERBOSE")) std::fprintf(stderr, "rejected: %s\n", e.what());
    return false;
  }
}

}  // namespace

bool config_input(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const size_t nul = text.find('\0');
  std::vector<std::string> overrides;
  if (nul != std::string_view::npos) overrides.emplace_back(text.substr(nul + 1));
  return accepts([&] {
    resolve_experiment(parse_json_text(text.substr(0, nul), "config 'fuzz.json'"), "fuzz.json", overrides);
  });
}

bool format_input(const uint8_t* data, size_t size) {
  return accepts([&] {
    const formats::Format f = formats::Format::parse_text(std::string_view(reinterpret_cast<const char*>(data), size));
    Tensor x = Tensor::empty({4, 48}), magnitudes = Tensor::empty({4, 48});
    for (int64_t i = 0; i < x.numel(); ++i) {
      x.data<float>()[i] = float((i * 37) % 101 - 50) / 16.0f;
      magnitudes.data<float>()[i] = std::fabs(x.data<float>()[i]);
    }
    formats::QuantizeOptions o;
    o.axis = 1;
    if (f.scales().channel_groups) o.channel_axis = 0;
    formats::quantize(magnitudes, f, o);  // every format takes non-negative values
    formats::decode(formats::encode(magnitudes, f, o));
    accepts([&] { formats::quantize(x, f, o); });  // unsigned formats reject negative ones
  });
}

bool idx_input(const uint8_t* data, size_t size) {
  if (size < 4) return false;
  uint32_t images = 0;
  std::memcpy(&images, data, 4);
  images = uint32_t(std::min<size_t>(images, size - 4));
  const MemFile image_file(data + 4, images), label_file(data + 4 + images, size - 4 - images);
  return accepts([&] { data::load_idx(image_file.path(), label_file.path(), "fuzz"); });
}

bool cifar_input(const uint8_t* data, size_t size) {
  if (size < 1) return false;
  const bool cifar100 = data[0] & 1;
  const MemFile file(data + 1, size - 1);
  return accepts([&] { data::load_cifar_binary({file.path()}, cifar100 ? 2 : 1, cifar100 ? 100 : 10, "fuzz"); });
}

bool hdf5_dataset_input(const uint8_t* data, size_t size) {
  const MemFile file(data, size);
  return accepts([&] { data::load_hdf5_dataset(file.path()); });
}

bool checkpoint_input(const uint8_t* data, size_t size) {
  static TinyModel t = tiny_model(false);
  const MemFile file(data, size);
  return accepts([&] {
    peek_checkpoint(file.path());
    load_checkpoint(file.path(), *t.model, t.optimizers);
  });
}

bool export_input(const uint8_t* data, size_t size) {
  static TinyModel t = tiny_model(true);
  const MemFile file(data, size);
  return accepts([&] {
    export_config(file.path());
    load_export(file.path(), *t.model);
  });
}

const std::vector<Harness>& harnesses() {
  static const std::vector<Harness> all = {
      {"config", config_input},          {"format", format_input},         {"idx", idx_input},
      {"cifar", cifar_input},            {"hdf5_dataset", hdf5_dataset_input}, {"checkpoint", checkpoint_input},
      {"export", export_input}};
  return all;
}

}  // namespace lpt::fuzz
