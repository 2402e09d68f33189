// The Format value type: JSON syntax, names, bits per value, errors that name the key.
#include <gtest/gtest.h>

#include "formats/format.h"
#include "formats/format_table.h"
#include "formats/quantize.h"

namespace lpt::formats {
namespace {

std::string error_of(const std::string& text) {
  try {
    Format::parse_text(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(FormatJson, EveryTableExampleRoundTrips) {
  for (const FormatTraits& t : format_table())
    for (const std::string& text : t.examples) {
      const Format f = Format::parse_text(text);
      const Format back = Format::parse(f.json());
      EXPECT_EQ(back, f) << text;
      EXPECT_EQ(back.name(), f.name());
      EXPECT_EQ(Format::parse_text(f.to_json()).json(), f.json());
      EXPECT_EQ(f.params().index(), size_t(&t - format_table().data()));
    }
}

TEST(FormatJson, ReadableNames) {
  const auto name = [](const char* j) { return Format::parse_text(j).name(); };
  EXPECT_EQ(name(R"({"type":"int","bits":4,"signed":true,"granularity":"vector","vector_size":16,"scale_bits":4,
                     "clipping":"max","rounding":"nearest"})"),
            "int4-pv16-s4");
  EXPECT_EQ(name(R"({"type":"int","bits":8,"signed":true})"), "int8-pt");
  EXPECT_EQ(name(R"({"type":"int","bits":4,"signed":true,"granularity":"channel"})"), "int4-pc");
  EXPECT_EQ(name(R"({"type":"int","bits":4,"signed":false,"granularity":"vector","vector_size":32})"), "uint4-pv32");
  EXPECT_EQ(name(R"({"type":"int"})"), "int8-pt-auto");
  EXPECT_EQ(name(R"({"type":"int","bits":4,"signed":true,"granularity":"channel","clipping":"octav"})"),
            "int4-pc-octav");
  EXPECT_EQ(name(R"({"type":"int","bits":6,"signed":true,"clipping":"percentile","percentile":99.99})"),
            "int6-pt-pct99.99");
  EXPECT_EQ(name(R"({"type":"int","bits":8,"signed":true,"clipping":"mse","rounding":"stochastic"})"),
            "int8-pt-mse-sr");
  EXPECT_EQ(name(R"({"type":"hbfp","mantissa_bits":3,"block_size":64})"), "hbfp4-b64");
  EXPECT_EQ(name(R"({"type":"hbfp","mantissa_bits":5})"), "hbfp6-b64");
  EXPECT_EQ(name(R"({"type":"lns","bits":8,"gamma":8})"), "lns8-g8");
  EXPECT_EQ(name(R"({"type":"lns","bits":8,"gamma":8,"granularity":"channel"})"), "lns8-g8-pc");
  EXPECT_EQ(name(R"({"type":"fp8_e4m3"})"), "fp8e4m3");
  EXPECT_EQ(name(R"({"type":"fp8_e4m3","scale":"tensor","pow2_scale":true})"), "fp8e4m3-ts-pow2");
  EXPECT_EQ(name(R"({"type":"fp4_e2m1","scale":"tensor"})"), "fp4e2m1-ts");
  EXPECT_EQ(name(R"({"type":"mx","element":"fp4_e2m1"})"), "mxfp4");
  EXPECT_EQ(name(R"({"type":"mx","element":"int8"})"), "mxint8");
  EXPECT_EQ(name(R"({"type":"mx","element":"fp6_e3m2","block_size":16})"), "mxfp6e3m2-b16");
}

TEST(FormatJson, DefaultsAreWrittenOut) {
  const Format f = Format::parse_text(R"({"type":"int","granularity":"vector"})");
  EXPECT_EQ(f.json(), nlohmann::json::parse(R"({"type":"int","bits":8,"signed":"auto","granularity":"vector",
      "vector_size":16,"scale_bits":0,"clipping":"max","rounding":"nearest"})"));
  const IntParams* p = f.get<IntParams>();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->vector_size, 16);
  EXPECT_EQ(f.get<HbfpParams>(), nullptr);
}

TEST(FormatJson, BitsPerValueIncludesVectorScales) {
  const auto bpv = [](const char* j) { return Format::parse_text(j).bits_per_value(); };
  EXPECT_EQ(bpv(R"({"type":"int","bits":4,"granularity":"vector","vector_size":16,"scale_bits":4})"), 4.25);
  EXPECT_EQ(bpv(R"({"type":"int","bits":4,"granularity":"vector","vector_size":16})"), 6.0);  // fp32 per 16
  EXPECT_EQ(bpv(R"({"type":"int","bits":8})"), 8.0);
  EXPECT_EQ(bpv(R"({"type":"hbfp","mantissa_bits":3,"block_size":64})"), 4.125);
  EXPECT_EQ(bpv(R"({"type":"mx","element":"fp4_e2m1"})"), 4.25);
  EXPECT_EQ(bpv(R"({"type":"lns","bits":8,"gamma":8})"), 8.0);
  EXPECT_EQ(bpv(R"({"type":"fp6_e2m3"})"), 6.0);
}

TEST(FormatJson, ErrorsNameTheKeyAndWhatWasExpected) {
  const auto has = [](const std::string& err, const char* needle) {
    return err.find(needle) != std::string::npos ? ::testing::AssertionSuccess()
                                                 : ::testing::AssertionFailure() << "'" << err << "'";
  };
  EXPECT_TRUE(has(error_of(R"({"type":"int","bitz":4})"), "unknown key 'bitz'"));
  EXPECT_TRUE(has(error_of(R"({"type":"int","bits":"4"})"), "key 'bits' must be an integer"));
  EXPECT_TRUE(has(error_of(R"({"type":"int","bits":17})"), "key 'bits' must be in [1, 16]"));
  EXPECT_TRUE(has(error_of(R"({"type":"int","bits":1,"signed":true})"), "bits = 1"));
  EXPECT_TRUE(has(error_of(R"({"type":"int","signed":"yes"})"), "key 'signed' must be true, false or \"auto\""));
  EXPECT_TRUE(has(error_of(R"({"type":"int","granularity":"row"})"), "key 'granularity' must be one of"));
  EXPECT_TRUE(has(error_of(R"({"type":"int","vector_size":16})"), "key 'vector_size' applies to granularity"));
  EXPECT_TRUE(has(error_of(R"({"type":"int","clipping":"percentile"})"), "key 'percentile' is required"));
  EXPECT_TRUE(has(error_of(R"({"type":"int","percentile":99})"), "key 'percentile'"));
  EXPECT_TRUE(has(error_of(R"({"type":"int","granularity":"vector","clipping":"octav"})"), "clipping applies"));
  EXPECT_TRUE(has(error_of(R"({"type":"int","rounding":"up"})"), "key 'rounding' must be one of"));
  EXPECT_TRUE(has(error_of(R"({"type":"fp8_e4m3","pow2_scale":true})"), "key 'pow2_scale'"));
  EXPECT_TRUE(has(error_of(R"({"type":"mx","element":"fp16"})"), "key 'element' must be one of"));
  EXPECT_TRUE(has(error_of(R"({"type":"hbfp","mantissa_bits":0})"), "key 'mantissa_bits'"));
  EXPECT_TRUE(has(error_of(R"({"type":"posit8"})"), "unknown type 'posit8'"));
  EXPECT_TRUE(has(error_of(R"({"bits":8})"), "key 'type' is required"));
  EXPECT_TRUE(has(error_of(R"([1, 2])"), "expected a JSON object"));
  EXPECT_TRUE(has(error_of(R"({"type":"int",)"), "not valid JSON"));
}

TEST(FormatJson, ATensorCarriesItsFormat) {
  const Format f = Format::parse_text(R"({"type":"int","bits":4,"signed":true})");
  const Tensor y = quantize(Tensor::full({3}, 1.0f), f);
  ASSERT_TRUE(y.format());
  EXPECT_EQ(y.format()->name(), "int4-pt");
  EXPECT_EQ(y.format()->bits_per_value(), 4.0);
  EXPECT_EQ(Format::parse_text(y.format()->to_json()), f);
}

TEST(FormatJson, ResolvingAutoSignedness) {
  const Format f = Format::parse_text(R"({"type":"int","bits":4})");
  EXPECT_EQ(f.resolved(true).name(), "uint4-pt");
  EXPECT_EQ(f.resolved(false).name(), "int4-pt");
  const Format h = Format::parse_text(R"({"type":"hbfp"})");
  EXPECT_EQ(h.resolved(true), h);
}

}  // namespace
}  // namespace lpt::formats
