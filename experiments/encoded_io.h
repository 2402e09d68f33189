#pragma once
// An encoded tensor (SPEC §7) in an HDF5 file, as `lpt quantize` and `lpt export` store it: a group
// holding its format's arrays (codes, scales, vector_scales, exponents; formats/encode.h) with
// attributes format (JSON), format_name, encoded_shape (the shape the arrays describe), axis (of
// the runs), channel_axis (-1: none), bits_per_value (the format's nominal cost), bytes and
// stored_bits_per_value (what the arrays take), padded_elements and codes_order; packed arrays
// carry code_bits and count.
#include <string>

#include "core/hdf5.h"
#include "formats/encode.h"

namespace lpt {

// Returns the bytes the arrays take.
int64_t write_encoded(h5::File& f, const std::string& group, const formats::Encoded& e);

// Reads one back, checking its encoded shape against the `expected_numel` values the model's
// tensor holds (before allocating anything) and every array against what its format makes for
// that shape. Errors name the file and the group: a missing attribute or array, a format this
// build does not know, wrong dtypes or sizes.
formats::Encoded read_encoded(const h5::File& f, const std::string& group, int64_t expected_numel);

}  // namespace lpt
