// Encoded layout (SPEC §7): packed codes, scales and their export shapes.
#include <algorithm>

#include "formats/encode.h"
#include "formats/quantize.h"
#include "tests/support/format_tensor_testing.h"
#include "tests/support/test_helpers.h"

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

TEST(FormatEncode, TwoLevelVectorScalesPackLikeCodesAndScalesAreShapedByTheirGroups) {
  // Weights [O=2, I=20, 1, 1], vectors of 16 along I (2 per row, the second padded), γ per O.
  const Tensor w = testing::bumpy_tensor({2, 20, 1, 1}, 3);
  QuantizeOptions o;
  o.axis = 1;
  o.channel_axis = 0;
  const Format f = Format::parse_text(R"({"type":"int","bits":4,"granularity":"vector","scale_bits":4})");
  const Encoded e = encode(w, f, o);
  const std::vector<EncodedArray> a = encoded_arrays(e);
  // Four 4-bit vector scales S_v, two per byte in vector order: 4.25 bits per value in all.
  const EncodedArray& vs = array_named(a, "vector_scales");
  EXPECT_EQ(vs.code_bits, 4);
  EXPECT_EQ(vs.count, 4);
  ASSERT_EQ(vs.data.shape(), (Shape{2}));
  const std::vector<uint8_t>& S = std::get<IntEncoded>(e.data).vector_scales;
  ASSERT_EQ(S.size(), 4u);
  for (size_t v = 0; v < 4; ++v) {
    EXPECT_EQ((bytes_of(vs)[v / 2] >> (4 * (v % 2))) & 0xF, S[v]) << v;
    EXPECT_TRUE(S[v] >= 1 && S[v] <= 15);
  }
  EXPECT_EQ(array_named(a, "scales").data.shape(), (Shape{2}));
  EXPECT_EQ(array_named(a, "codes").data.numel(), 20);  // 40 codes, 4 bits each
  EXPECT_EQ(padded_elements(f, w.shape(), 1), 2 * 12);
  EXPECT_EQ(padded_elements(Format::parse_text(R"({"type":"int"})"), w.shape(), 1), 0);
  // Per-vector fp32 scales are block arrays, shaped like the tensor with vectors along the axis.
  const Encoded e32 = encode(w, Format::parse_text(R"({"type":"int","bits":4,"granularity":"vector"})"), o);
  EXPECT_EQ(array_named(encoded_arrays(e32), "scales").data.shape(), (Shape{2, 2, 1, 1}));
}

TEST(FormatEncode, HbfpExponentsAreInt16) {
  const Format f = Format::parse_text(R"({"type":"hbfp","mantissa_bits":3,"block_size":64})");
  const Tensor x = testing::bumpy_tensor({2, 128}, 4);
  const std::vector<EncodedArray> a = encoded_arrays(encode(x, f));
  const EncodedArray& ex = array_named(a, "exponents");
  EXPECT_EQ(ex.data.dtype(), DType::s16);
  EXPECT_EQ(ex.data.shape(), (Shape{2, 2}));
}

// Every example format of the trait table: arrays read back (in any order) decode to exactly
// what quantize gives, with or without channel groups.
TEST(FormatEncode, EveryFormatRoundTripsThroughItsArrays) {
  const Tensor signed_x = testing::bumpy_tensor({6, 40}, 11);
  Tensor relu_x = signed_x.clone();
  for (int64_t i = 0; i < relu_x.numel(); ++i) relu_x.data<float>()[i] = std::abs(relu_x.data<float>()[i]);
  for (const FormatTraits& t : format_table())
    for (const std::string& json : t.examples) {
      const Format f = Format::parse_text(json).resolved(false);
      const IntParams* p = f.get<IntParams>();
      const Tensor& x = p && p->signedness == Signedness::is_unsigned ? relu_x : signed_x;
      QuantizeOptions o;
      o.axis = 1;
      o.channel_axis = 0;
      o.rounding.seed = 5;
      const Encoded e = encode(x, f, o);
      std::vector<EncodedArray> arrays = encoded_arrays(e);
      std::reverse(arrays.begin(), arrays.end());
      for (EncodedArray& a : arrays) a.code_bits = 0, a.count = 0;  // as read from a file: bare arrays
      const Encoded back = encoded_from_arrays(f, e.shape, e.axis, e.channel_axis, e.block_rows, arrays, "t");
      const Tensor q = quantize(x, f, o), d = decode(back);
      EXPECT_TRUE(testing::bitwise_equal(d, q)) << json;
      // Both carry the fp32 tensor scale a GEMM factors out (SPEC §9), or 1 where there is none.
      EXPECT_EQ(d.format_scale(), q.format_scale()) << json;
      EXPECT_EQ(q.format_scale() != 1.0f, f.scales().tensor_scale_outside) << json;
    }
}

TEST(FormatEncode, ArraysThatDoNotFitTheFormatAreRejectedByName) {
  const Tensor x = testing::bumpy_tensor({4, 32}, 2);
  const Format f = Format::parse_text(R"({"type":"int","bits":4,"signed":true,"granularity":"vector","scale_bits":4})");
  QuantizeOptions o;
  o.axis = 1;
  o.channel_axis = 0;
  const Encoded e = encode(x, f, o);
  const std::vector<EncodedArray> good = encoded_arrays(e);
  const auto error = [&](std::vector<EncodedArray> a) {
    return lpt::testing::error_of([&] { encoded_from_arrays(f, e.shape, e.axis, e.channel_axis, e.block_rows, a, "tensor 'fc.weight'"); });
  };
  std::vector<EncodedArray> missing = good;
  missing.pop_back();
  EXPECT_NE(error(missing).find("'vector_scales' is missing"), std::string::npos) << error(missing);
  std::vector<EncodedArray> extra = good;
  extra.push_back({"mantissas", ArrayIndex::packed_codes, good[0].data});
  EXPECT_NE(error(extra).find("unexpected array 'mantissas'"), std::string::npos) << error(extra);
  std::vector<EncodedArray> short_codes = good;
  short_codes[0].data = Tensor::zeros({3}, DType::u8);
  EXPECT_NE(error(short_codes).find("array 'codes' is u8 [3]"), std::string::npos) << error(short_codes);
  std::vector<EncodedArray> wrong_type = good;
  wrong_type[1].data = Tensor::zeros({4}, DType::s32);
  EXPECT_NE(error(wrong_type).find("expects f32 [4]"), std::string::npos) << error(wrong_type);
  EXPECT_EQ(error(good), "");
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
