// Encoded layout (SPEC §7): packed codes, scales and their export shapes.
#include "formats/encode.h"
#include "tests/format_testing.h"

namespace lpt::formats {
namespace {

std::vector<uint8_t> bytes_of(const EncodedArray& a) {
  const uint8_t* p = a.data.data<uint8_t>();
  return {p, p + a.data.numel()};
}

const EncodedArray& array_named(const std::vector<EncodedArray>& arrays, const std::string& name) {
  for (const EncodedArray& a : arrays)
    if (a.name == name) return a;
  throw Error("no array " + name);
}

TEST(FormatEncode, Int4CodesPackTwoPerByteLowNibbleFirstInTwosComplement) {
  // s = 1 (amax 7): codes 1, -1, 7, -7, 0 -> nibbles 0x1, 0xF, 0x7, 0x9, 0x0.
  const Tensor x = Tensor::from_vector({5}, {1, -1, 7, -7, 0});
  const Encoded e = encode(x, Format::parse_text(R"({"type":"int","bits":4,"signed":true})"));
  const std::vector<EncodedArray> a = encoded_arrays(e);
  EXPECT_EQ(bytes_of(array_named(a, "codes")), (std::vector<uint8_t>{0xF1, 0x97, 0x00}));
  EXPECT_EQ(array_named(a, "codes").code_bits, 4);
  EXPECT_EQ(array_named(a, "scales").data.to_vector(), (std::vector<float>{1}));
  EXPECT_EQ(array_named(a, "scales").data.shape(), (Shape{1}));
}

TEST(FormatEncode, WiderAndUnsignedCodes) {
  // int8: one two's-complement byte per code; uint4: 0..15 in nibbles.
  const Tensor x = Tensor::from_vector({3}, {127, -127, -1});
  const Encoded e8 = encode(x, Format::parse_text(R"({"type":"int","bits":8,"signed":true})"));
  EXPECT_EQ(bytes_of(array_named(encoded_arrays(e8), "codes")), (std::vector<uint8_t>{0x7F, 0x81, 0xFF}));
  const Tensor u = Tensor::from_vector({3}, {15, 0, 8});
  QuantizeOptions relu;
  relu.input_nonnegative = true;
  const Encoded eu = encode(u, Format::parse_text(R"({"type":"int","bits":4})"), relu);  // "auto" -> unsigned
  EXPECT_TRUE(std::get<IntEncoded>(eu.data).is_signed == false);
  EXPECT_EQ(bytes_of(array_named(encoded_arrays(eu), "codes")), (std::vector<uint8_t>{0x0F, 0x08}));
  EXPECT_EQ(decode(eu).to_vector(), (std::vector<float>{15, 0, 8}));
}

TEST(FormatEncode, TwoLevelScalesAreShapedByTheirBlocks) {
  // Weights [O=2, I=20, 1, 1], vectors of 16 along I (2 per row, the second padded), γ per O.
  const Tensor w = testing::bumpy_tensor({2, 20, 1, 1}, 3);
  QuantizeOptions o;
  o.axis = 1;
  o.channel_axis = 0;
  const Format f = Format::parse_text(R"({"type":"int","bits":4,"granularity":"vector","scale_bits":4})");
  const Encoded e = encode(w, f, o);
  const std::vector<EncodedArray> a = encoded_arrays(e);
  EXPECT_EQ(array_named(a, "vector_scales").data.shape(), (Shape{2, 2, 1, 1}));
  EXPECT_EQ(array_named(a, "scales").data.shape(), (Shape{2}));
  EXPECT_EQ(array_named(a, "codes").data.numel(), 20);  // 40 codes, 4 bits each
  for (uint8_t s : bytes_of(array_named(a, "vector_scales"))) EXPECT_TRUE(s >= 1 && s <= 15);
  EXPECT_EQ(padded_elements(f, w.shape(), 1), 2 * 12);
  EXPECT_EQ(padded_elements(Format::parse_text(R"({"type":"int"})"), w.shape(), 1), 0);
  // Per-vector fp32 scales are block arrays too.
  const Encoded e32 = encode(w, Format::parse_text(R"({"type":"int","bits":4,"granularity":"vector"})"), o);
  EXPECT_EQ(array_named(encoded_arrays(e32), "scales").data.shape(), (Shape{2, 2, 1, 1}));
}

TEST(FormatEncode, EveryKindExportsCodesAndScales) {
  const Tensor x = testing::bumpy_tensor({4, 64}, 9);
  QuantizeOptions o;
  o.channel_axis = 0;
  for (const char* json : {R"({"type":"hbfp","mantissa_bits":3,"block_size":32})", R"({"type":"lns"})",
                           R"({"type":"lns","granularity":"channel"})", R"({"type":"fp8_e4m3","scale":"tensor"})",
                           R"({"type":"mx","element":"fp4_e2m1"})"}) {
    const Format f = Format::parse_text(json);
    const std::vector<EncodedArray> a = encoded_arrays(encode(x, f, o));
    ASSERT_GE(a.size(), 2u) << json;
    EXPECT_EQ(a[0].name, "codes");
    EXPECT_GT(a[0].code_bits, 0);
    EXPECT_EQ(a[0].data.numel(), (256 * (a[0].code_bits <= 4 ? 4 : a[0].code_bits <= 8 ? 8 : 16) + 7) / 8);
  }
  const Format mx = Format::parse_text(R"({"type":"mx","element":"fp4_e2m1"})");
  EXPECT_EQ(array_named(encoded_arrays(encode(x, mx, o)), "scales").data.shape(), (Shape{4, 2}));
}

}  // namespace
}  // namespace lpt::formats
