#include "experiments/encoded_io.h"

#include "core/json_text.h"
#include "experiments/schema.h"

namespace lpt {

int64_t write_encoded(h5::File& f, const std::string& group, const formats::Encoded& e) {
  const std::vector<formats::EncodedArray> arrays = formats::encoded_arrays(e);
  f.create_group(group);
  for (const formats::EncodedArray& a : arrays) {
    f.write(group + "/" + a.name, a.data);
    if (a.index == formats::ArrayIndex::packed_codes) {
      f.set_attr(group + "/" + a.name, "code_bits", int64_t(a.code_bits));
      f.set_attr(group + "/" + a.name, "count", a.count);
    }
  }
  const int64_t bytes = formats::encoded_bytes(arrays);
  f.set_attr(group, "format", e.format.to_json());
  f.set_attr(group, "format_name", e.format.name());
  f.set_attr(group, "encoded_shape", json(e.shape).dump());
  f.set_attr(group, "axis", int64_t(e.axis));
  f.set_attr(group, "channel_axis", int64_t(e.channel_axis.value_or(-1)));
  if (e.block_rows > 1) f.set_attr(group, "block_rows", e.block_rows);
  f.set_attr(group, "bits_per_value", e.format.bits_per_value());
  f.set_attr(group, "bytes", bytes);
  f.set_attr(group, "stored_bits_per_value", e.numel() ? 8.0 * double(bytes) / double(e.numel()) : 0.0);
  f.set_attr(group, "padded_elements", formats::padded_elements(e.format, e.shape, e.axis));
  f.set_attr(group, "codes_order",
             std::string("row-major logical order of encoded_shape; codes of at most 4 bits two per byte, element "
                         "2i in the low nibble; signed codes in two's complement"));
  return bytes;
}

formats::Encoded read_encoded(const h5::File& f, const std::string& group, int64_t expected_numel) {
  const std::string what = "file '" + f.path() + "' encoded tensor '" + group + "'";
  LPT_CHECK(f.has(group) && !f.is_dataset(group), what, " is missing (expected a group of codes and scales)");
  const formats::Format format = [&] {
    try {
      return formats::Format::parse_text(f.attr_string(group, "format"));
    } catch (const Error& e) {
      fail(what, ": a format this build does not read: ", e.what());
    }
  }();
  const json shape = parse_json_text(f.attr_string(group, "encoded_shape"), what + ": attribute encoded_shape");
  LPT_CHECK(shape.is_array() && std::all_of(shape.begin(), shape.end(),
                                            [](const json& d) { return d.is_number_integer() && d >= 0 && d <= INT64_MAX; }),
            what, ": attribute encoded_shape is not a shape (a JSON array of sizes)");
  // Compared before anything of that shape is allocated.
  int64_t numel = 1;
  for (const json& d : shape)
    LPT_CHECK(!__builtin_mul_overflow(numel, d.get<int64_t>(), &numel), what, ": encoded_shape ", shape.dump(),
              " overflows 64 bits");
  LPT_CHECK(numel == expected_numel, what, ": encoded_shape ", shape.dump(), " holds ", numel,
            " values, the model's tensor ", expected_numel);
  const int64_t channel = f.attr_int(group, "channel_axis");
  std::vector<formats::EncodedArray> arrays;
  for (const std::string& a : f.datasets(group))
    arrays.push_back({a, formats::ArrayIndex::packed_codes, f.read(group + "/" + a)});
  // 2-D blocks (NVFP4 "weight_blocks": "2d"): absent means 1-D.
  const int64_t block_rows = f.has_attr(group, "block_rows") ? f.attr_int(group, "block_rows") : 1;
  LPT_CHECK(block_rows == 1 || (block_rows == format.weight_block_rows() && shape.size() >= 2 &&
                                f.attr_int(group, "axis") == 1),
            what, ": attribute block_rows ", block_rows, " does not fit format ", format.name(),
            " (2-D blocks of ", format.weight_block_rows(), " rows along axis 0 of a weight blocked along axis 1)");
  return formats::encoded_from_arrays(format, shape.get<Shape>(), int(f.attr_int(group, "axis")),
                                      channel < 0 ? std::nullopt : std::optional<int>(int(channel)), block_rows,
                                      arrays, what);
}

}  // namespace lpt
