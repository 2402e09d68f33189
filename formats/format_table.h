#pragma once
// The trait table (in the manner of ggml's type traits): one row per format kind saying how it is
// parsed from JSON, written back, named, costed, and how its kernels quantize, encode and decode.
// Adding a format means its kernels, its parameter / encoded structs in formats/format.h's two
// variants, and one row here.
#include <string>
#include <vector>

#include "core/tensor.h"
#include "formats/format.h"
#include "formats/json_fields.h"

namespace lpt::formats {

// One array of an encoded tensor, for export (SPEC §7). Codes are packed bytes; block arrays have
// one entry per block in [outer, block, inner] order; group arrays one per scale group (channel).
enum class ArrayIndex { packed_codes, per_block, per_group, per_tensor };
struct EncodedArray {
  std::string name;  // "codes", "scales", "vector_scales", "exponents"
  ArrayIndex index;
  Tensor data;        // u8 / s16 / f32
  int code_bits = 0;  // packed codes: bits per code (SPEC §7 packing)
  int64_t count = 0;  // packed codes: how many
};

struct FormatTraits {
  const char* kind;                // "int", "hbfp", ...
  std::vector<std::string> types;  // the JSON "type" values this kind parses
  FormatParams (*parse)(const std::string& type, JsonFields& fields);
  nlohmann::json (*json)(const FormatParams& p);
  std::string (*name)(const FormatParams& p);
  double (*bits_per_value)(const FormatParams& p);
  int64_t (*block_size)(const FormatParams& p);  // elements per vector / block along the runs; 0: none
  // The narrowest hardware type holding every quantized value exactly (SPEC §9): bf16 when a GEMM
  // on two such operands can run in bf16 with the emulated result up to fp32 summation order; s8 /
  // u8 when the values are 8-bit integers times one fp32 scale per group (INT per tensor, per
  // channel, two-level per vector), so the scales factor out of a forward GEMM; else f32 (fp32
  // vector scales, LNS: emulated only).
  DType (*exact_type)(const FormatParams& p);
  ScaleTraits (*scales)(const FormatParams& p);
  void (*validate)(const FormatParams& p);
  void (*quantize)(const FormatParams& p, const float* x, float* y, const BufferLayout& l, const QuantizeOptions& o);
  // For exact_type s8 / u8 (else null): quantize giving the 8-bit integers q8 and the fp32 scale
  // per group, value = fl32(q8·scale) bit for bit; y (may be null) gets the values too.
  std::vector<float> (*quantize_int8)(const FormatParams& p, const float* x, float* y, uint8_t* q8,
                                      const BufferLayout& l, const QuantizeOptions& o);
  EncodedData (*encode)(const FormatParams& p, const float* x, const BufferLayout& l, const QuantizeOptions& o);
  void (*decode)(const FormatParams& p, const EncodedData& e, float* y, const BufferLayout& l);
  // For exact_type s8 / u8 (else null): decode to the int8 form quantize_int8 gives.
  std::vector<float> (*decode_int8)(const FormatParams& p, const EncodedData& e, uint8_t* q8, const BufferLayout& l);
  std::vector<EncodedArray> (*arrays)(const FormatParams& p, const EncodedData& e);
  // The inverse of `arrays`, given arrays already checked to be the ones `arrays` makes for this
  // format and shape (names, order, dtypes, sizes, code counts).
  EncodedData (*from_arrays)(const FormatParams& p, const std::vector<EncodedArray>& a);
  std::vector<std::string> examples;  // representative formats as JSON: tests and benchmarks loop over them
  // Whether one call's values are a codebook of at most 256 fp32 values indexed by the format's own
  // codes (LNS with ≤ 8 bits per tensor); then quantize_codebook gives one byte per value and the
  // codebook, codebook[code] bit for bit the value quantize() gives, which y receives too. A
  // backward pass keeps such codes instead of fp32 values. Null: never.
  bool (*has_codebook)(const FormatParams& p) = nullptr;
  std::vector<float> (*quantize_codebook)(const FormatParams& p, const float* x, float* y, uint8_t* codes,
                                          const BufferLayout& l, const QuantizeOptions& o) = nullptr;
  // How many consecutive output channels a weight's block spans besides its run (BufferLayout::
  // block_rows): 16 for NVFP4 with "weight_blocks": "2d". Null: 1, blocks along the runs only.
  int64_t (*weight_block_rows)(const FormatParams& p) = nullptr;
};

// Rows in FormatParams' order.
const std::vector<FormatTraits>& format_table();
inline const FormatTraits& traits_of(const FormatParams& p) { return format_table()[p.index()]; }

}  // namespace lpt::formats
