#pragma once
// JPEG (libjpeg-turbo) and PNG (libpng) decoding to 8-bit RGB.
#include <cstdint>
#include <string>
#include <vector>

namespace lpt::data {

struct DecodedImage {
  int64_t h = 0, w = 0;
  std::vector<uint8_t> rgb;  // h x w x 3, row-major (HWC)
};

// Decodes a JPEG or PNG file (told apart by their signatures, not the file name). Grayscale and
// CMYK become RGB, alpha is dropped (as PIL's convert("RGB") does). A JPEG is decoded with DCT
// scaling to the smallest size whose shorter side is still >= min_shorter_side (0: full size),
// which makes large photos several times cheaper to decode. Errors name the file: unreadable,
// truncated or corrupted data, unknown format.
DecodedImage decode_image(const std::string& path, int64_t min_shorter_side = 0);

}  // namespace lpt::data
