#pragma once
// Encoding (SPEC §1, §7): a tensor's codes plus scales, packed as the spec lays them out (two
// 4-bit codes per byte, element 2i in the low nibble; signed codes in two's complement; minifloat
// elements as OCP bit patterns; per-vector integer scales, per-channel / per-tensor fp32 scales),
// and back: decode(encode(x)) == quantize(x) bit for bit, for the same options.
#include <optional>
#include <vector>

#include "core/tensor.h"
#include "formats/format.h"
#include "formats/format_table.h"
#include "formats/quantize_options.h"

namespace lpt::formats {

// Codes and scales follow the logical (row-major) order of the tensor, whatever its memory layout.
struct Encoded {
  Format format;
  Shape shape;
  int axis = 0;                     // runs (vectors, blocks) go along this logical axis
  std::optional<int> channel_axis;  // scale groups, if any
  EncodedData data;
  int64_t block_rows = 1;           // 2-D blocks (BufferLayout::block_rows)

  int64_t numel() const { return shape_numel(shape); }
  BufferLayout layout() const;  // of the row-major tensor
};

Encoded encode(const Tensor& x, const Format& f, const QuantizeOptions& o = {});
Tensor decode(const Encoded& e);  // row-major, carries the format
// The int8 form (SPEC §9) of a format whose exact_type() is s8 or u8: the 8-bit integers q·S_v,
// row-major in e's shape, and the fp32 scale per group; what quantize_int8 gives for the same data.
std::pair<Tensor, std::vector<float>> decode_int8(const Encoded& e);

// The encoded arrays for export, shaped: packed codes as bytes [n_bytes]; block arrays as the
// logical shape with the run axis replaced by its number of blocks; group arrays [channels];
// per-tensor arrays [1].
std::vector<EncodedArray> encoded_arrays(const Encoded& e);

// The inverse of encoded_arrays, for arrays read from a file, in any order: they must be exactly
// the arrays encoded_arrays makes for this format, shape and axes (names, dtypes, sizes; packed
// arrays' code_bits and count come from the format). Anything else is an error naming `what`
// (e.g. "file 'model.h5' tensor 'fc.weight'") and the array.
Encoded encoded_from_arrays(const Format& f, const Shape& shape, int axis, std::optional<int> channel_axis,
                            int64_t block_rows, const std::vector<EncodedArray>& arrays, const std::string& what);

// Bytes the arrays take (packed codes, scales, exponents).
int64_t encoded_bytes(const std::vector<EncodedArray>& arrays);

// Elements a blocked format pads at the ends of runs that are not a multiple of its block
// (SPEC §1: padding overhead is reported separately from bits per value).
int64_t padded_elements(const Format& f, const Shape& shape, int axis);

}  // namespace lpt::formats
