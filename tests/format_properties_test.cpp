// Properties every format in the trait table must have, checked on every row's examples (a new
// format gets this coverage by adding its row): decode(encode(x)) == quantize(x) bit for bit,
// idempotence, sign symmetry, independence of memory layout and thread count, NaN/Inf errors.
#include <omp.h>

#include <cmath>

#include "formats/encode.h"
#include "formats/format_table.h"
#include "tests/support/format_tensor_testing.h"

namespace lpt::formats {
namespace {

using testing::bitwise_equal;
using testing::bumpy_tensor;

std::vector<Format> all_examples() {
  std::vector<Format> out;
  for (const FormatTraits& t : format_table())
    for (const std::string& text : t.examples) out.push_back(Format::parse_text(text));
  return out;
}

bool is_unsigned_int(const Format& f) {
  const IntParams* p = f.get<IntParams>();
  return p && p->signedness == Signedness::is_unsigned;
}

// [N, C, H, W] with runs along C (a short last block for every block size) and channel groups
// along N (as for weights' output channels); unsigned formats get |x|.
Tensor input_for(const Format& f, uint64_t seed, MemoryFormat mf = MemoryFormat::contiguous) {
  Tensor x = bumpy_tensor({3, 70, 3, 2}, seed);
  if (is_unsigned_int(f))
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::fabs(x.data<float>()[i]);
  return x.to(mf);
}

QuantizeOptions options(const char* name = "props") {
  QuantizeOptions o;
  o.axis = 1;
  o.channel_axis = 0;
  o.name = name;
  o.rounding.seed = 1234;
  o.rounding.step = 7;
  o.rounding.tensor_id = stable_hash(name);
  return o;
}

Tensor negated(const Tensor& t) {
  Tensor n = t.clone();
  for (int64_t i = 0; i < n.numel(); ++i) n.data<float>()[i] = -n.data<float>()[i];
  return n;
}

TEST(FormatProperties, DecodeOfEncodeIsQuantizeBitForBit) {
  for (const Format& f : all_examples())
    for (MemoryFormat mf : {MemoryFormat::contiguous, MemoryFormat::channels_last}) {
      const Tensor x = input_for(f, 1, mf);
      const Tensor y = quantize(x, f, options());
      const Tensor d = decode(encode(x, f, options()));
      EXPECT_TRUE(bitwise_equal(d, y)) << f.name() << (mf == MemoryFormat::channels_last ? " channels-last" : "");
      EXPECT_TRUE(d.is_contiguous());
      for (float v : y.to_vector()) ASSERT_TRUE(std::isfinite(v)) << f.name();
    }
}

TEST(FormatProperties, QuantizingTwiceChangesNothing) {
  // INT's clip values are frozen for the second pass (percentile, mse and OCTAV clips of Q(x)
  // differ from those of x), which makes it exact. Formats whose fp32 scale is amax/max (per-vector
  // INT, scaled minifloats) may move by an ulp of the scale. Two-level INT is idempotent only with
  // every scale frozen (tests/format_int_test.cpp).
  for (const Format& f : all_examples()) {
    if (f.rounding() == Rounding::stochastic) continue;
    const IntParams* ip = f.get<IntParams>();
    if (ip && ip->two_level()) continue;
    QuantizeStats stats;
    QuantizeOptions o = options();
    o.stats = &stats;
    const Tensor y = quantize(input_for(f, 2), f, o);
    QuantizeOptions again = options();
    if (ip && ip->granularity != IntGranularity::vector) again.fixed_clip = stats.clip;
    const std::vector<float> once = y.to_vector(), twice = quantize(y, f, again).to_vector();
    if (!again.fixed_clip.empty()) {
      EXPECT_EQ(twice, once) << f.name();
    }
    float amax = 0;
    for (float v : once) amax = std::max(amax, std::fabs(v));
    for (size_t i = 0; i < once.size(); ++i) ASSERT_NEAR(twice[i], once[i], 4e-7f * amax) << f.name() << " at " << i;
  }
}

TEST(FormatProperties, SignSymmetry) {
  // Values, not bits: integer codes make both signs of a flushed value +0.
  for (const Format& f : all_examples()) {
    if (f.rounding() == Rounding::stochastic || is_unsigned_int(f)) continue;
    const Tensor x = input_for(f, 3);
    EXPECT_EQ(quantize(negated(x), f, options()).to_vector(), negated(quantize(x, f, options())).to_vector())
        << f.name();
  }
}

TEST(FormatProperties, IndependentOfMemoryLayoutAndThreadCount) {
  const int threads = omp_get_max_threads();
  for (const Format& f : all_examples()) {
    const Tensor x = input_for(f, 4);
    omp_set_num_threads(1);
    const Tensor one = quantize(x, f, options());
    omp_set_num_threads(2);
    EXPECT_TRUE(bitwise_equal(quantize(x, f, options()), one)) << f.name();
    EXPECT_TRUE(bitwise_equal(quantize(x.to(MemoryFormat::channels_last), f, options()), one)) << f.name();
  }
  omp_set_num_threads(threads);
}

TEST(FormatProperties, NonFiniteInputIsAnErrorNamingTheTensor) {
  for (const Format& f : all_examples())
    for (float bad : {NAN, INFINITY}) {
      Tensor x = input_for(f, 5);
      x.data<float>()[101] = bad;
      try {
        quantize(x, f, options("features.3.conv.weight"));
        ADD_FAILURE() << f.name() << ": no error";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("features.3.conv.weight"), std::string::npos) << e.what();
      }
      EXPECT_THROW(encode(x, f, options()), Error) << f.name();
    }
}

TEST(FormatProperties, StatsForEveryFormat) {
  for (const Format& f : all_examples()) {
    QuantizeStats s;
    QuantizeOptions o = options();
    o.stats = &s;
    const Tensor x = input_for(f, 6);
    const Tensor y = quantize(x, f, o);
    EXPECT_GT(s.sqnr_db, 5) << f.name();
    EXPECT_GE(s.flushed_fraction, 0) << f.name();
    // In place gives the same values and statistics.
    Tensor z = x.clone();
    QuantizeStats si;
    o.stats = &si;
    quantize(f, z.data<float>(), z.data<float>(), BufferLayout::of(z, 1, 0), o);
    EXPECT_TRUE(bitwise_equal(z, y)) << f.name();
    EXPECT_EQ(si.sqnr_db, s.sqnr_db) << f.name();
  }
}

}  // namespace
}  // namespace lpt::formats
