#pragma once
// Whole-file reads for the dataset readers.
#include <cstdint>
#include <string>
#include <vector>

namespace lpt::data {

// The bytes of a file, decompressed when it is gzip (zlib reads plain files unchanged). Errors
// name the file: missing, unreadable, or a gzip stream that is truncated or corrupted.
// More than max_bytes (after decompression) is an error: a small gzip file can expand without
// bound, and with Linux's overcommit a huge allocation succeeds only to be killed later.
std::vector<uint8_t> read_file_maybe_gzip(const std::string& path, uint64_t max_bytes = uint64_t(4) << 30);

}  // namespace lpt::data
