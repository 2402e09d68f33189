#pragma once
// Exports: a trained model in its low-precision encodings (SPEC §7), with everything evaluation
// needs and no fp32 copy of any quantized tensor. One HDF5 file:
//   /  attributes            format "lpt-export", version, architecture (model name), config (the
//                            experiment's JSON), source (the checkpoint), epoch, lpt_commit,
//                            total_bytes, fp32_bytes
//   /model/<name>            a tensor lpt keeps in fp32 (biases, BN parameters and running
//                            statistics, weights of layers without a weight format): a dataset in
//                            PyTorch's layout, as in checkpoints
//   /model/<name>/           a quantized weight: a group holding its format's arrays (codes, scales,
//                            vector_scales, exponents; see formats/encode.h) with attributes format
//                            (JSON), format_name, shape (PyTorch's), encoded_shape, axis,
//                            channel_axis (-1: none), bits_per_value (the format's nominal cost),
//                            bytes, stored_bits_per_value, padded_elements; packed arrays carry
//                            code_bits and count
//   /quantizer/<layer>.activations.<key>
//                            the frozen activation clip values evaluation uses (clip_ema, calibrated,
//                            octav_s), as in checkpoints
// Weights are stored as evaluation quantizes them, with the forward GEMM's blocking, so evaluating
// the export gives the same logits as evaluating the checkpoint under the same formats.
#include <string>
#include <vector>

#include "experiments/schema.h"
#include "layers/module.h"

namespace lpt {

// One row of the size report.
struct ExportedTensor {
  std::string name;    // state_dict name
  std::string format;  // format name, or "fp32"
  int64_t elements = 0;
  int64_t bytes = 0;  // stored: codes and scales, or 4 per fp32 value
};

// Writes `path` atomically from a model whose formats (apply_quantization) and weights are set.
std::vector<ExportedTensor> write_export(const std::string& path, Module& model, const json& config,
                                         const std::string& source, int64_t epoch);

// The experiment config an export was made from (as stored; resolve it before use).
json export_config(const std::string& path);

// Loads an export into a model built from its config, with apply_quantization done for the same
// epoch as the export. Quantized weights are decoded into the parameters and their layers stop
// quantizing weights (the values are the quantized ones); activation quantizers get the frozen
// clip values. Throws naming the file and the tensor on anything missing, extra, of the wrong
// shape or format, corrupted (checksums), or in a format this build does not know; the model is
// unchanged when it throws.
void load_export(const std::string& path, Module& model);

// The report as text: one line per tensor (format, elements, bytes, bits per value) and the total
// against fp32.
std::string size_report(const std::vector<ExportedTensor>& rows);

}  // namespace lpt
