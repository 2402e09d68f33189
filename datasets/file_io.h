#pragma once
// Whole-file reads for the dataset readers.
#include <cstdint>
#include <string>
#include <vector>

namespace lpt::data {

// The bytes of a file, decompressed when it is gzip (zlib reads plain files unchanged). Errors
// name the file: missing, unreadable, or a gzip stream that is truncated or corrupted.
std::vector<uint8_t> read_file_maybe_gzip(const std::string& path);

}  // namespace lpt::data
