#include "datasets/file_io.h"

#include <zlib.h>

#include <algorithm>
#include <filesystem>

#include "core/error.h"

namespace lpt::data {

std::vector<uint8_t> read_file_maybe_gzip(const std::string& path, uint64_t max_bytes) {
  LPT_CHECK(std::filesystem::is_regular_file(path), "file '", path, "' does not exist or is not a file");
  gzFile f = gzopen(path.c_str(), "rb");
  LPT_CHECK(f != nullptr, "file '", path, "' could not be opened");
  gzbuffer(f, 1u << 20);  // fewer, larger reads than the 8 KiB default
  std::vector<uint8_t> bytes;
  constexpr size_t chunk = size_t(1) << 20;
  int got = 0;
  do {
    if (bytes.size() > max_bytes) {
      gzclose_r(f);
      fail("file '", path, "' holds more than ", max_bytes, " bytes (decompressed): more than a dataset file may have");
    }
    bytes.resize(bytes.size() + chunk);
    got = gzread(f, bytes.data() + bytes.size() - chunk, unsigned(chunk));
    bytes.resize(bytes.size() - chunk + size_t(std::max(got, 0)));
  } while (got > 0);
  int err = Z_OK;
  const std::string message = gzerror(f, &err);
  gzclose_r(f);
  LPT_CHECK(got == 0 && err == Z_OK, "file '", path, "' could not be read (", message,
            "): truncated or corrupted gzip data?");
  return bytes;
}

}  // namespace lpt::data
