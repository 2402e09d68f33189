#include "formats/encode.h"

#include <algorithm>

#include "core/error.h"
#include "formats/quantize.h"

namespace lpt::formats {

namespace {
int normalize(int axis, int ndim, const char* what) {
  if (ndim == 0) return 0;  // a scalar is one run of one element
  const int a = axis < 0 ? axis + ndim : axis;
  LPT_CHECK(a >= 0 && a < ndim, "encode: ", what, " ", axis, " out of range for a ", ndim, "-D tensor");
  return a;
}
}  // namespace

BufferLayout Encoded::layout() const {
  BufferLayout l = BufferLayout::row_major(shape, axis, channel_axis);
  l.block_rows = block_rows;
  return l;
}

Encoded encode(const Tensor& x_in, const Format& f, const QuantizeOptions& o) {
  LPT_CHECK(x_in.dtype() == DType::f32, "encode: tensor '", o.name, "' is ", dtype_name(x_in.dtype()),
            ", expected f32");
  const Tensor x = x_in.contiguous();
  std::optional<int> channel;
  if (o.channel_axis) channel = normalize(*o.channel_axis, x.ndim(), "channel axis");
  Encoded e{f, x.shape(), normalize(o.axis, x.ndim(), "axis"), channel, {}, o.block_rows};
  QuantizeOptions k = kernel_options(f, e.layout(), o);
  k.rounding.order = {};  // row-major: memory order is logical order
  e.data = traits_of(f.params()).encode(f.params(), x.data<float>(), e.layout(), k);
  return e;
}

Tensor decode(const Encoded& e) {
  LPT_CHECK(e.data.index() == e.format.params().index(), "decode: encoded data of another kind than format ",
            e.format.name());
  Tensor y = Tensor::empty(e.shape);
  traits_of(e.format.params()).decode(e.format.params(), e.data, y.data<float>(), e.layout());
  float scale = 1.0f;
  if (e.format.scales().tensor_scale_outside)
    for (const EncodedArray& a : encoded_arrays(e))
      if (a.index == ArrayIndex::per_tensor) scale = a.data.data<float>()[0];
  y.set_format(std::make_shared<const Format>(e.format), scale);
  return y;
}

std::pair<Tensor, std::vector<float>> decode_int8(const Encoded& e) {
  const FormatTraits& t = traits_of(e.format.params());
  LPT_CHECK(t.decode_int8 && e.data.index() == e.format.params().index(), "decode_int8: format ", e.format.name(),
            " has no exact int8 form (SPEC §9)");
  Tensor q8 = Tensor::empty(e.shape, e.format.exact_type());
  std::vector<float> scales = t.decode_int8(e.format.params(), e.data, static_cast<uint8_t*>(q8.raw_data()), e.layout());
  return {std::move(q8), std::move(scales)};
}

std::vector<EncodedArray> encoded_arrays(const Encoded& e) {
  const FormatTraits& t = traits_of(e.format.params());
  std::vector<EncodedArray> arrays = t.arrays(e.format.params(), e.data);
  for (EncodedArray& a : arrays) {
    Shape s;
    switch (a.index) {
      case ArrayIndex::packed_codes:
        continue;
      case ArrayIndex::per_block: {
        const int64_t B = t.block_size(e.format.params());
        s = e.shape.empty() ? Shape{1} : e.shape;
        s[size_t(e.axis)] = (s[size_t(e.axis)] + B - 1) / B;
        if (e.block_rows > 1) s[0] = (s[0] + e.block_rows - 1) / e.block_rows;  // 2-D blocks: axis 0 is outer
        break;
      }
      case ArrayIndex::per_group:
        s = {e.layout().num_groups()};
        break;
      case ArrayIndex::per_tensor:
        s = {1};
        break;
    }
    LPT_CHECK(shape_numel(s) == a.data.numel(), "encode: array '", a.name, "' holds ", a.data.numel(),
              " values, expected ", shape_numel(s), " for shape ", shape_str(s));
    a.data = a.data.view(s);
  }
  return arrays;
}

Encoded encoded_from_arrays(const Format& f, const Shape& shape, int axis, std::optional<int> channel_axis,
                            int64_t block_rows, const std::vector<EncodedArray>& arrays, const std::string& what) {
  // What encoding a tensor of this shape produces: zeros encode quickly to arrays of the same form.
  QuantizeOptions o;
  o.axis = axis;
  o.channel_axis = channel_axis;
  o.block_rows = block_rows;
  o.name = what;
  const Encoded model = encode(Tensor::zeros(shape), f, o);
  const std::vector<EncodedArray> expected = encoded_arrays(model);
  std::string names;
  for (const EncodedArray& e : expected) names += (names.empty() ? "" : ", ") + e.name;
  for (const EncodedArray& a : arrays)
    LPT_CHECK(std::any_of(expected.begin(), expected.end(), [&](const EncodedArray& e) { return e.name == a.name; }),
              what, ": unexpected array '", a.name, "'; format ", f.name(), " stores ", names);
  std::vector<EncodedArray> ordered;  // in the format's order, checked against what it makes
  for (const EncodedArray& e : expected) {
    auto a = std::find_if(arrays.begin(), arrays.end(), [&](const EncodedArray& x) { return x.name == e.name; });
    LPT_CHECK(a != arrays.end(), what, ": array '", e.name, "' is missing; format ", f.name(), " stores ", names);
    LPT_CHECK(a->data.dtype() == e.data.dtype() && a->data.shape() == e.data.shape(), what, ": array '", a->name,
              "' is ", dtype_name(a->data.dtype()), " ", shape_str(a->data.shape()), ", format ", f.name(),
              " on shape ", shape_str(shape), " expects ", dtype_name(e.data.dtype()), " ", shape_str(e.data.shape()));
    ordered.push_back({e.name, e.index, a->data, e.code_bits, e.count});
  }
  Encoded out = model;
  out.data = traits_of(f.params()).from_arrays(f.params(), ordered);
  return out;
}

int64_t encoded_bytes(const std::vector<EncodedArray>& arrays) {
  int64_t n = 0;
  for (const EncodedArray& a : arrays) n += int64_t(a.data.nbytes());
  return n;
}

int64_t padded_elements(const Format& f, const Shape& shape, int axis) {
  const int64_t B = traits_of(f.params()).block_size(f.params());
  if (B <= 1 || shape.empty()) return 0;
  const int a = normalize(axis, int(shape.size()), "axis");
  const int64_t len = shape[size_t(a)], runs = len > 0 ? shape_numel(shape) / len : 0;
  return runs * ((len + B - 1) / B * B - len);
}

}  // namespace lpt::formats
