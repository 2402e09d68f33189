#pragma once
// The fuzzed readers' entry points, one per input lpt reads (issue: every input gets a clear error,
// never a crash). Each returns true when the reader accepted the input and false when it rejected
// it with lpt::Error; anything else escaping (another exception, a sanitizer report, a signal) is a
// finding. fuzz_main.cpp makes each a libFuzzer binary (fuzz_<name>); tests/fuzz_inputs_test.cpp
// runs the committed seeds (which must be accepted) and every regression input through them.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lpt::fuzz {

// Config text and, after a NUL byte if there is one, a `--set KEY=VALUE` override: parse and
// validate as `lpt train CONFIG --set ...` does.
bool config_input(const uint8_t* data, size_t size);
// Format JSON (`--format`, config format objects, the text stored in exports); when it parses,
// quantize, encode and decode a small tensor with it.
bool format_input(const uint8_t* data, size_t size);
// IDX images and labels, plain or gzip: 4 bytes (little endian) giving the images file's length,
// the images file, then the labels file.
bool idx_input(const uint8_t* data, size_t size);
// A CIFAR binary batch after one byte whose low bit picks CIFAR-100 records (2 label bytes).
bool cifar_input(const uint8_t* data, size_t size);
// An HDF5 dataset file (images and labels).
bool hdf5_dataset_input(const uint8_t* data, size_t size);
// A checkpoint: its config and progress, then the tiny model and optimizers restored from it.
bool checkpoint_input(const uint8_t* data, size_t size);
// An export: its config, then its tensors into the tiny quantized model.
bool export_input(const uint8_t* data, size_t size);

struct Harness {
  std::string name;  // "config": binary fuzz_config, corpus tests/fuzz/corpus/config
  bool (*run)(const uint8_t* data, size_t size);
};
const std::vector<Harness>& harnesses();

}  // namespace lpt::fuzz
