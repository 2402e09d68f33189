#include "datasets/image_decode.h"

// jpeglib.h needs FILE and size_t declared before it.
#include <cstdio>
#include <algorithm>
#include <csetjmp>
#include <cstring>
#include <fstream>
#include <iterator>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#include "core/error.h"

namespace lpt::data {

namespace {

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LPT_CHECK(in.good(), "image '", path, "' could not be opened");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LPT_CHECK(!in.bad(), "image '", path, "' could not be read");
  return bytes;
}

// libjpeg reports fatal errors through error_exit, which must not return: jump back to
// decode_jpeg's setjmp with the message. A premature end of data is only a warning in libjpeg
// (it pads with gray); a truncated file is treated as an error here.
struct JpegErrors {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_error_exit(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegErrors*>(cinfo->err);
  cinfo->err->format_message(cinfo, e->message);
  std::longjmp(e->jump, 1);
}

void jpeg_emit_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_error_exit(cinfo);
}

// The setjmp frame: only trivially destructible locals live here, and the buffers it fills
// belong to the caller, so the longjmp skips no destructor and leaves them in a known state.
// Returns false with libjpeg's message on failure.
bool decode_jpeg_into(const std::vector<uint8_t>& bytes, int64_t min_shorter_side, DecodedImage* img,
                      std::vector<uint8_t>* row, char* message) {
  jpeg_decompress_struct cinfo;
  JpegErrors errors;
  cinfo.err = jpeg_std_error(&errors.mgr);
  errors.mgr.error_exit = jpeg_error_exit;
  errors.mgr.emit_message = jpeg_emit_message;
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&cinfo);
    std::memcpy(message, errors.message, JMSG_LENGTH_MAX);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  if (min_shorter_side > 0) {
    const int64_t shorter = std::min<int64_t>(cinfo.image_width, cinfo.image_height);
    cinfo.scale_denom = 8;
    cinfo.scale_num = 1;
    while (cinfo.scale_num < 8 && (shorter * cinfo.scale_num + 7) / 8 < min_shorter_side) ++cinfo.scale_num;
  }
  jpeg_start_decompress(&cinfo);
  img->h = cinfo.output_height;
  img->w = cinfo.output_width;
  img->rgb.resize(size_t(img->h * img->w * 3));
  row->resize(size_t(img->w) * size_t(cinfo.output_components));
  const bool inverted = cinfo.saw_Adobe_marker;  // Adobe writes CMYK inverted
  while (cinfo.output_scanline < cinfo.output_height) {
    uint8_t* dst = img->rgb.data() + size_t(cinfo.output_scanline) * size_t(img->w) * 3;
    JSAMPROW rows[1] = {cmyk ? row->data() : dst};
    jpeg_read_scanlines(&cinfo, rows, 1);
    if (!cmyk) continue;
    for (int64_t x = 0; x < img->w; ++x) {
      const uint8_t* p = row->data() + 4 * x;
      const int k = inverted ? p[3] : 255 - p[3];
      for (int ch = 0; ch < 3; ++ch) {
        const int c = inverted ? p[ch] : 255 - p[ch];
        dst[3 * x + ch] = uint8_t((c * k + 127) / 255);
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

DecodedImage decode_jpeg(const std::string& path, const std::vector<uint8_t>& bytes, int64_t min_shorter_side) {
  DecodedImage img;
  std::vector<uint8_t> row;
  char message[JMSG_LENGTH_MAX] = {};
  LPT_CHECK(decode_jpeg_into(bytes, min_shorter_side, &img, &row, message), "image '", path,
            "' is not a readable JPEG (truncated or corrupted?): ", message);
  return img;
}

DecodedImage decode_png(const std::string& path, const std::vector<uint8_t>& bytes) {
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  LPT_CHECK(png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()), "image '", path,
            "' is not a readable PNG: ", image.message);
  // RGBA then drop alpha: 8-bit sRGB output is not premultiplied, so the colours stay as stored.
  image.format = PNG_FORMAT_RGBA;
  std::vector<uint8_t> rgba(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, rgba.data(), 0, nullptr)) {
    const std::string message = image.message;
    png_image_free(&image);
    fail("image '", path, "' is not a readable PNG (truncated or corrupted?): ", message);
  }
  DecodedImage img;
  img.h = image.height;
  img.w = image.width;
  img.rgb.resize(size_t(img.h * img.w * 3));
  for (size_t i = 0; i < size_t(img.h * img.w); ++i) std::memcpy(&img.rgb[3 * i], &rgba[4 * i], 3);
  return img;
}

}  // namespace

DecodedImage decode_image(const std::string& path, int64_t min_shorter_side) {
  const std::vector<uint8_t> bytes = read_bytes(path);
  static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), png_signature, 8) == 0) return decode_png(path, bytes);
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
    return decode_jpeg(path, bytes, min_shorter_side);
  fail("image '", path, "' is neither JPEG nor PNG (", bytes.size(), " bytes, unknown signature)");
}

}  // namespace lpt::data
