#pragma once
// `lpt quantize`: fake-quantizes one float32 dataset of an HDF5 file and writes it, with its
// encoded form (codes, scales, format attributes), to another HDF5 file.
#include <CLI/CLI.hpp>

namespace lpt::cli {

void add_quantize_command(CLI::App& app, int& exit_code);

}  // namespace lpt::cli
