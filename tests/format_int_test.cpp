// INT per tensor / channel / vector and two-level VS-Quant (SPEC §1.1): hand-computed cases,
// a reference written from the spec, properties, stochastic rounding and input errors.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "formats/encode.h"
#include "tests/support/format_tensor_testing.h"
#include "tests/support/test_helpers.h"

namespace lpt::formats {
namespace {

using testing::bitwise_equal;
using testing::bumpy_tensor;

IntParams int_params(int bits, IntGranularity g, int vector_size = 16, int scale_bits = 0,
                     Signedness s = Signedness::is_signed) {
  IntParams p;
  p.bits = bits;
  p.granularity = g;
  p.vector_size = vector_size;
  p.scale_bits = scale_bits;
  p.signedness = s;
  return p;
}

std::vector<float> q(const Tensor& x, const IntParams& p, QuantizeOptions o = {}) {
  return quantize(x, Format(p), o).to_vector();
}

TEST(FormatInt, PerTensorRoundsToNearestEvenWithNarrowRange) {
  // amax = 7, qmax = 7: s = 1, so codes are RNE(x): ties 2.5 -> 2, -3.5 -> -4, 0.5 -> 0, 1.5 -> 2.
  const Tensor x = Tensor::from_vector({8}, {7, -3.5f, 2.5f, 0.5f, -0.5f, 1.5f, 0, 6.49f});
  EXPECT_TRUE(bitwise_equal(quantize(x, Format(int_params(4, IntGranularity::tensor))),
                            Tensor::from_vector({8}, {7, -4, 2, 0, 0, 2, 0, 6})));  // -0.5 -> +0: codes have no -0
  // Narrow range: -amax maps to -qmax, never to -2^(N-1).
  const Tensor neg = Tensor::from_vector({2}, {-7, 3});
  EXPECT_EQ(q(neg, int_params(4, IntGranularity::tensor)), (std::vector<float>{-7, 3}));
}

TEST(FormatInt, FixedClipSaturates) {
  // clip 3.5 -> s = 0.5: 7 saturates at 7·0.5, 2.5 -> 5·0.5, 0.25 -> tie 0.5 -> 0.
  const Tensor x = Tensor::from_vector({5}, {7, -3.5f, 2.5f, 0.25f, -100});
  const float clip = 3.5f;
  QuantizeOptions o;
  o.fixed_clip = {&clip, 1};
  EXPECT_EQ(q(x, int_params(4, IntGranularity::tensor), o), (std::vector<float>{3.5f, -3.5f, 2.5f, 0, -3.5f}));
}

TEST(FormatInt, UnsignedUsesTheFullRange) {
  // uint4: qmax = 15, amax = 15 -> s = 1.
  const Tensor x = Tensor::from_vector({5}, {15, 0, 7.5f, 8.5f, 0.4f});
  EXPECT_EQ(q(x, int_params(4, IntGranularity::tensor, 16, 0, Signedness::is_unsigned)),
            (std::vector<float>{15, 0, 8, 8, 0}));
  // "auto" resolves to unsigned for a ReLU output, to signed otherwise.
  QuantizeOptions relu;
  relu.input_nonnegative = true;
  EXPECT_EQ(q(x, int_params(4, IntGranularity::tensor, 16, 0, Signedness::automatic), relu),
            (std::vector<float>{15, 0, 8, 8, 0}));
  const std::vector<float> as_signed = q(x, int_params(4, IntGranularity::tensor, 16, 0, Signedness::automatic));
  EXPECT_EQ(as_signed[2], std::nearbyint(7.5f / (15.0f / 7.0f)) * (15.0f / 7.0f));
}

TEST(FormatInt, AllZeroGroupsStayZeroWithScaleOne) {
  // Per channel (axis 0): channel 1 is all zero.
  const Tensor x = Tensor::from_vector({2, 3}, {7, -7, 1, 0, 0, 0});
  QuantizeOptions o;
  o.channel_axis = 0;
  QuantizeStats stats;
  o.stats = &stats;
  EXPECT_EQ(q(x, int_params(4, IntGranularity::channel), o), (std::vector<float>{7, -7, 1, 0, 0, 0}));
  EXPECT_EQ(stats.scale, (std::vector<float>{1, 1}));  // 7/7 and the all-zero group's 1
  const Encoded e = encode(x, Format(int_params(4, IntGranularity::channel)), o);
  EXPECT_EQ(std::get<IntEncoded>(e.data).scales, (std::vector<float>{1, 1}));
  // An all-zero tensor.
  EXPECT_EQ(q(Tensor::zeros({4}), int_params(8, IntGranularity::tensor)), (std::vector<float>(4, 0.0f)));
}

TEST(FormatInt, PerVectorPadsAShortLastVector) {
  // V = 4 along a run of 6: vectors {1,2,3,7} (s = 1) and {3.5,-7} (padded; s = 1: 3.5 -> 4).
  const Tensor x = Tensor::from_vector({6}, {1, 2, 3, 7, 3.5f, -7});
  EXPECT_EQ(q(x, int_params(4, IntGranularity::vector, 4)), (std::vector<float>{1, 2, 3, 7, 4, -7}));
  // Same along axis 0 of a [6, 2] tensor (strided runs); column 1 is all zero.
  const Tensor xt = Tensor::from_vector({6, 2}, {1, 0, 2, 0, 3, 0, 7, 0, 3.5f, 0, -7, 0});
  QuantizeOptions o;
  o.axis = 0;
  EXPECT_EQ(q(xt, int_params(4, IntGranularity::vector, 4), o),
            (std::vector<float>{1, 0, 2, 0, 3, 0, 7, 0, 4, 0, -7, 0}));
}

TEST(FormatInt, TwoLevelHandComputed) {
  // int4 (qmax 7), M = 2 (S in 1..3), V = 2, γ per tensor = max s_v / 3 = (21/7)/3 = 1.
  //   {21, 0}:      s_v = 3,   S = 3, codes 7, 0          -> 21, 0
  //   {7, -3.5}:    s_v = 1,   S = 1, codes 7, -4 (tie)   -> 7, -4
  //   {0, 0}:       s_v = 0,   S = clamp(0) = 1           -> 0, 0
  //   {10.5, 1}:    s_v = 1.5, S = 2 (tie to even), codes 5 (5.25), 0 (0.5 tie) -> 10, 0
  //   {17.5, 0}:    s_v = 2.5, S = 2 (tie to even), 8.75 clamps to 7             -> 14, 0
  const Tensor x = Tensor::from_vector({10}, {21, 0, 7, -3.5f, 0, 0, 10.5f, 1, 17.5f, 0});
  const IntParams p = int_params(4, IntGranularity::vector, 2, 2);
  EXPECT_EQ(q(x, p), (std::vector<float>{21, 0, 7, -4, 0, 0, 10, 0, 14, 0}));
  const Encoded e = encode(x, Format(p));
  const IntEncoded& ie = std::get<IntEncoded>(e.data);
  EXPECT_EQ(ie.scales, (std::vector<float>{1}));
  EXPECT_EQ(ie.vector_scales, (std::vector<uint8_t>{3, 1, 1, 2, 2}));
}

TEST(FormatInt, TwoLevelGammaPerChannel) {
  // Weights [2, 4] with vectors (V = 2) along axis 1 and γ per row (axis 0), M = 4.
  //   row 0: amax 14 -> γ0 = (14/7)/15; row 1: amax 0.7 -> γ1 = (0.7/7)/15.
  const Tensor w = Tensor::from_vector({2, 4}, {14, 1, -7, 2, 0.7f, 0.35f, 0, 0});
  const IntParams p = int_params(4, IntGranularity::vector, 2, 4);
  QuantizeOptions o;
  o.axis = 1;
  o.channel_axis = 0;
  const std::vector<float> got = q(w, p, o);
  EXPECT_EQ(got, testing::reference_int(w.to_vector(), w.shape(), p, true, 1, 0));
  EXPECT_FLOAT_EQ(got[0], 14.0f);
  EXPECT_NEAR(got[4], 0.7f, 1e-6);
  // The vectors' axis cannot also be γ's axis.
  o.channel_axis = 1;
  EXPECT_THROW(quantize(w, Format(p), o), Error);
}

// The kernels against the spec-literal reference over layouts that take every code path:
// contiguous runs, strided runs (inner > 1), channel groups before and after the run axis,
// a run length that is not a multiple of V, and channels-last memory.
TEST(FormatInt, MatchesTheSpecReferenceOnEveryLayout) {
  struct Case {
    Shape shape;
    int axis;
    std::optional<int> channel;
    MemoryFormat mf;
  };
  const Case cases[] = {
      {{3, 37}, -1, 0, MemoryFormat::contiguous},         {{4, 37, 5}, 1, 0, MemoryFormat::contiguous},
      {{4, 37, 5}, 1, 2, MemoryFormat::contiguous},       {{6, 5, 3}, 0, 2, MemoryFormat::contiguous},
      {{2, 19, 3, 3}, 1, 0, MemoryFormat::channels_last}, {{2, 19, 3, 3}, 3, 1, MemoryFormat::channels_last},
      {{2, 19, 3, 3}, 1, 2, MemoryFormat::contiguous}};
  const IntParams params[] = {int_params(4, IntGranularity::tensor),
                              int_params(5, IntGranularity::channel),
                              int_params(4, IntGranularity::vector, 16),
                              int_params(3, IntGranularity::vector, 4, 4),
                              int_params(8, IntGranularity::vector, 8, 3),
                              int_params(4, IntGranularity::channel, 16, 0, Signedness::is_unsigned),
                              int_params(4, IntGranularity::vector, 16, 4, Signedness::is_unsigned)};
  uint64_t seed = 1;
  for (const Case& c : cases)
    for (const IntParams& p : params) {
      const bool is_signed = p.signedness == Signedness::is_signed;
      Tensor x = bumpy_tensor(c.shape, seed++);
      if (!is_signed)
        for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::fabs(x.data<float>()[i]);
      x = x.to(c.mf);
      QuantizeOptions o;
      o.axis = c.axis;
      o.channel_axis = c.channel;
      if (p.two_level() && c.channel && (*c.channel + 4) % int(c.shape.size()) == (c.axis + 4) % int(c.shape.size()))
        continue;
      const Tensor y = quantize(x, Format(p), o);
      EXPECT_EQ(y.strides(), x.strides());
      EXPECT_EQ(y.to_vector(), testing::reference_int(x.to_vector(), c.shape, p, is_signed, c.axis, c.channel))
          << Format(p).name() << " on " << x.describe() << " axis " << c.axis;
    }
}

// Runs of whole 16-element vectors (or of one element), sixteen vectors and more: the AVX-512
// paths that take sixteen vectors at once (and the generic loop for the vectors left over), with all-zero vectors, for
// values (quantize), codes (encode) and the int8 form, against the spec-literal reference.
TEST(FormatInt, SixteenVectorBatchesMatchTheReference) {
  struct Case {
    Shape shape;
    int axis;
    MemoryFormat mf;
  };
  const Case cases[] = {{{40, 64}, -1, MemoryFormat::contiguous},
                        {{3, 32, 5, 7}, 1, MemoryFormat::channels_last},
                        {{80, 1, 3, 3}, 1, MemoryFormat::channels_last}};  // one-element vectors
  const IntParams params[] = {int_params(4, IntGranularity::vector, 16),
                              int_params(4, IntGranularity::vector, 16, 4),
                              int_params(4, IntGranularity::vector, 16, 4, Signedness::is_unsigned),
                              int_params(8, IntGranularity::vector, 16, 0, Signedness::is_unsigned)};
  uint64_t seed = 11;
  for (const Case& c : cases)
    for (const IntParams& p : params) {
      const bool is_signed = p.signedness == Signedness::is_signed;
      Tensor x = bumpy_tensor(c.shape, seed++);
      float* v = x.data<float>();
      for (int64_t i = 0; i < x.numel(); ++i) v[i] = is_signed ? v[i] : std::fabs(v[i]);
      std::fill_n(v + 5 * 16, 16, 0.0f);   // one all-zero vector in the first batch of sixteen
      std::fill_n(v + 37 * 16, 32, 0.0f);  // and two in the third
      const std::vector<float> want = testing::reference_int(x.to_vector(), c.shape, p, is_signed, c.axis, {});
      x = x.to(c.mf);
      QuantizeOptions o;
      o.axis = c.axis;
      const Format f(p);
      SCOPED_TRACE(f.name() + " on " + x.describe());
      EXPECT_EQ(quantize(x, f, o).to_vector(), want);
      EXPECT_EQ(decode(encode(x, f, o)).to_vector(), want);
      if (f.exact_type() == DType::f32) continue;
      const BufferLayout l = BufferLayout::of(x, o.axis, std::nullopt);
      std::vector<float> values(size_t(x.numel()));
      std::vector<uint8_t> q8(values.size()), q8_only(values.size());
      const std::vector<float> scales = quantize_int8(f, x.data<float>(), values.data(), q8.data(), l, o);
      EXPECT_EQ(quantize_int8(f, x.data<float>(), nullptr, q8_only.data(), l, o), scales);
      EXPECT_EQ(q8_only, q8);
      const Tensor y = quantize(x, f, o);
      for (int64_t m = 0; m < x.numel(); ++m) {
        ASSERT_EQ(values[size_t(m)], y.data<float>()[m]) << "memory position " << m;
        const float q = f.exact_type() == DType::s8 ? float(int8_t(q8[size_t(m)])) : float(q8[size_t(m)]);
        ASSERT_EQ(q * scales[size_t(l.group_of(m))], values[size_t(m)]) << "memory position " << m;
      }
    }
  // A batch of sixteen vectors holding a bad value goes to the generic loop, which names it.
  for (const auto& [bad, json, needle] :
       {std::tuple{NAN, R"({"type":"int","bits":4,"granularity":"vector","scale_bits":4})", "non-finite"},
        std::tuple{-1.0f, R"({"type":"int","bits":4,"signed":false,"granularity":"vector"})", "negative"}}) {
    Tensor x = bumpy_tensor({40, 64}, 4);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::fabs(x.data<float>()[i]);
    x.data<float>()[1000] = bad;
    QuantizeOptions o;
    o.name = "stage2.input";
    const std::string e = lpt::testing::error_of([&] { quantize(x, Format::parse_text(json), o); });
    EXPECT_NE(e.find("stage2.input"), std::string::npos) << e;
    EXPECT_NE(e.find(needle), std::string::npos) << e;
  }
}

TEST(FormatInt, ErrorIsAtMostHalfAStepAndQuantizationIsMonotoneAndSymmetric) {
  const Tensor x = bumpy_tensor({4096}, 7);
  for (const IntParams& p : {int_params(4, IntGranularity::tensor), int_params(6, IntGranularity::vector, 16),
                             int_params(4, IntGranularity::vector, 16, 4)}) {
    const Format f(p);
    const Encoded e = encode(x, f);
    const IntEncoded& ie = std::get<IntEncoded>(e.data);
    const std::vector<float> xv = x.to_vector(), yv = decode(e).to_vector();
    for (size_t i = 0; i < xv.size(); ++i) {
      const size_t v = i / size_t(p.vector_size);
      const float step = p.granularity == IntGranularity::tensor ? ie.scales[0]
                         : p.two_level()                         ? float(ie.vector_scales[v]) * ie.scales[0]
                                                                 : ie.scales[v];
      const float qmax = float((1 << (p.bits - 1)) - 1);
      if (std::fabs(xv[i]) <= qmax * step) {
        EXPECT_LE(std::fabs(yv[i] - xv[i]), 0.5f * step * (1 + 1e-6f)) << f.name() << " element " << i;
      }
    }
    // Sign symmetry (nearest rounding): Q(-x) = -Q(x); a value flushed to zero is +0 either way.
    Tensor neg = x.clone();
    for (int64_t i = 0; i < neg.numel(); ++i) neg.data<float>()[i] = -neg.data<float>()[i];
    const std::vector<float> qx = quantize(x, f).to_vector(), qneg = quantize(neg, f).to_vector();
    for (size_t i = 0; i < qx.size(); ++i) {
      EXPECT_EQ(qneg[i], -qx[i]) << f.name() << " element " << i;
      if (qx[i] == 0) {
        EXPECT_FALSE(std::signbit(qneg[i]));
      }
    }
  }
  // Monotone: a sorted tensor stays sorted under one scale.
  std::vector<float> sorted = x.to_vector();
  std::sort(sorted.begin(), sorted.end());
  const std::vector<float> qs = q(Tensor::from_vector({4096}, sorted), int_params(3, IntGranularity::tensor));
  EXPECT_TRUE(std::is_sorted(qs.begin(), qs.end()));
}

TEST(FormatInt, IdempotentWithFrozenScales) {
  const Tensor x = bumpy_tensor({8, 64}, 11);
  // Single level: with the clip value frozen, Q(Q(x)) = Q(x) exactly.
  for (const IntParams& p : {int_params(4, IntGranularity::tensor), int_params(4, IntGranularity::channel)}) {
    QuantizeOptions o;
    o.channel_axis = 0;
    QuantizeStats stats;
    o.stats = &stats;
    const Tensor y = quantize(x, Format(p), o);
    QuantizeOptions frozen;
    frozen.channel_axis = 0;
    frozen.fixed_clip = stats.clip;
    EXPECT_TRUE(bitwise_equal(quantize(y, Format(p), frozen), y)) << Format(p).name();
    // Recomputing the scale from Q(x) moves values by at most a few ulps (of the scale, times q).
    QuantizeOptions recompute;
    recompute.channel_axis = 0;
    const std::vector<float> again = q(y, p, recompute), yv = y.to_vector();
    for (size_t i = 0; i < yv.size(); ++i) EXPECT_NEAR(again[i], yv[i], 1e-6f * 8) << i;
  }
  // Two-level: idempotent when γ and every S_v are frozen ...
  const IntParams p = int_params(4, IntGranularity::vector, 16, 4);
  const Format f(p);
  const Encoded e = encode(x, f);
  const Tensor y = decode(e);
  Tensor yy = Tensor::empty(y.shape());
  int_quantize_with_scales(p, std::get<IntEncoded>(e.data), y.data<float>(), yy.data<float>(), e.layout(), {});
  EXPECT_TRUE(bitwise_equal(yy, y));
  // ... but not with γ alone: {32.2, 0} has s_v = 4.6 -> S = 5 -> 6·5 = 30; then s_v = 30/7 -> S = 4,
  // and 30/4 = 7.5 rounds to 8, clamped to 7 -> 28 (γ frozen at 1 by the clip 7·15).
  const Tensor v = Tensor::from_vector({2}, {32.2f, 0});
  const float clip = 105;
  QuantizeOptions frozen;
  frozen.fixed_clip = {&clip, 1};
  const IntParams p2 = int_params(4, IntGranularity::vector, 2, 4);
  const Tensor once = quantize(v, Format(p2), frozen);
  EXPECT_EQ(once.to_vector(), (std::vector<float>{30, 0}));
  EXPECT_EQ(quantize(once, Format(p2), frozen).to_vector(), (std::vector<float>{28, 0}));
}

// Mean error over many inputs whose fractional step position lies in [0.1, 0.4): nearest
// rounding always rounds down there (biased), stochastic rounding is unbiased.
struct Bias {
  double mean, standard_error;
  bool unbiased() const { return std::fabs(mean) < 5 * standard_error; }
};
Bias rounding_bias(const IntParams& p, const QuantizeOptions& o, const Tensor& x) {
  const std::vector<float> xv = x.to_vector(), yv = quantize(x, Format(p), o).to_vector();
  double sum = 0, sum2 = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    const double e = double(yv[i]) - xv[i];
    sum += e;
    sum2 += e * e;
  }
  const double n = double(xv.size()), mean = sum / n;
  return {mean, std::sqrt(std::max(sum2 / n - mean * mean, 0.0) / n)};
}

TEST(FormatInt, StochasticRoundingIsUnbiasedAndNearestIsNot) {
  // Codes k + f with k in [-100, 100], f in [0.1, 0.4), step 1 (clip frozen at 127 for int8).
  const int64_t n = 1000000;
  Tensor x = Tensor::empty({n});
  const Tensor u = lpt::testing::random_tensor({n}, 3, 0.0f, 1.0f);
  for (int64_t i = 0; i < n; ++i) x.data<float>()[i] = float(i % 201 - 100) + 0.1f + 0.3f * u.data<float>()[i];
  const float clip = 127;
  QuantizeOptions o;
  o.fixed_clip = {&clip, 1};
  o.rounding.seed = 42;
  o.rounding.tensor_id = stable_hash("layer1.conv.weight");
  IntParams p = int_params(8, IntGranularity::tensor);
  const Bias nearest = rounding_bias(p, o, x);
  EXPECT_FALSE(nearest.unbiased()) << nearest.mean;
  p.rounding = Rounding::stochastic;
  const Bias sr = rounding_bias(p, o, x);
  EXPECT_TRUE(sr.unbiased()) << sr.mean << " +- " << sr.standard_error;

  // The same with per-vector two-level scales: x in units of each vector's step.
  IntParams pv = int_params(8, IntGranularity::vector, 16, 4);
  Tensor xv = x.clone();
  for (int64_t i = 0; i < n; i += 16) xv.data<float>()[i] = 127;  // every vector's max: step 1
  const float big = 127 * 15;
  o.fixed_clip = {&big, 1};
  EXPECT_FALSE(rounding_bias(pv, o, xv).unbiased());
  pv.rounding = Rounding::stochastic;
  const Bias srv = rounding_bias(pv, o, xv);
  EXPECT_TRUE(srv.unbiased()) << srv.mean << " +- " << srv.standard_error;
}

TEST(FormatInt, ResultsDoNotDependOnTheThreadCount) {
  const Tensor x = bumpy_tensor({2, 48, 5, 5}, 5, MemoryFormat::channels_last);
  const int threads = omp_get_max_threads();
  for (const char* json :
       {R"({"type":"int","bits":4,"granularity":"vector","scale_bits":4,"rounding":"stochastic"})",
        R"({"type":"int","bits":4,"granularity":"channel","rounding":"stochastic"})",
        R"({"type":"int","bits":4,"granularity":"channel","clipping":"octav"})",
        R"({"type":"int","bits":4,"clipping":"mse"})", R"({"type":"int","bits":4,"granularity":"vector"})"}) {
    const Format f = Format::parse_text(json);
    QuantizeOptions o;
    o.axis = 1;
    o.channel_axis = 0;
    o.rounding.seed = 9;
    QuantizeStats s1, s2;
    omp_set_num_threads(1);
    o.stats = &s1;
    const Tensor y1 = quantize(x, f, o);
    omp_set_num_threads(2);
    o.stats = &s2;
    const Tensor y2 = quantize(x, f, o);
    EXPECT_TRUE(bitwise_equal(y1, y2)) << f.name();
    EXPECT_EQ(s1.clip, s2.clip) << f.name();
    EXPECT_EQ(s1.sqnr_db, s2.sqnr_db) << f.name();
  }
  omp_set_num_threads(threads);
}

TEST(FormatInt, StochasticRoundingFollowsLogicalIndicesAndTheKey) {
  const Tensor x = bumpy_tensor({2, 16, 3, 3}, 8);
  const Format f = Format::parse_text(R"({"type":"int","bits":3,"rounding":"stochastic"})");
  QuantizeOptions o;
  o.rounding.seed = 1;
  const Tensor a = quantize(x, f, o);
  // Channels-last memory, same logical values: same result.
  EXPECT_TRUE(bitwise_equal(quantize(x.to(MemoryFormat::channels_last), f, o), a));
  // Another step or tensor id: other noise.
  o.rounding.step = 1;
  EXPECT_FALSE(bitwise_equal(quantize(x, f, o), a));
}

TEST(FormatInt, RejectsNonFiniteAndNegativeToUnsignedNamingTheTensor) {
  const auto expect_error = [](const Tensor& x, const char* json, const char* needle, bool nonneg = false) {
    QuantizeOptions o;
    o.name = "layer2.conv.input";
    o.channel_axis = 0;
    o.input_nonnegative = nonneg;
    try {
      quantize(x, Format::parse_text(json), o);
      ADD_FAILURE() << json << ": expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("layer2.conv.input"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    Tensor x = bumpy_tensor({4, 40}, 2);
    x.data<float>()[77] = bad;
    for (const char* json : {R"({"type":"int","bits":4})", R"({"type":"int","bits":4,"granularity":"channel"})",
                             R"({"type":"int","bits":4,"granularity":"vector"})",
                             R"({"type":"int","bits":4,"granularity":"vector","scale_bits":4})"})
      expect_error(x, json, "non-finite");
  }
  const Tensor x = bumpy_tensor({4, 40}, 2);
  expect_error(x, R"({"type":"int","bits":4,"signed":false})", "negative");
  expect_error(x, R"({"type":"int","bits":4,"signed":false,"granularity":"vector"})", "negative");
  expect_error(x, R"({"type":"int","bits":4})", "negative", true);  // "auto" told it is a ReLU output
  // Two-level with frozen clip values (evaluation, calibrated PTQ) takes γ without scanning x: the
  // vector pass itself must still refuse non-finite and negative-to-unsigned inputs.
  for (const auto& [json, nonneg, needle] :
       {std::tuple{R"({"type":"int","bits":4,"granularity":"vector","scale_bits":4})", false, "non-finite"},
        std::tuple{R"({"type":"int","bits":4,"granularity":"vector","scale_bits":4})", true, "negative"}}) {
    Tensor z = bumpy_tensor({4, 40}, 2);
    if (!nonneg) z.data<float>()[77] = NAN;
    const float clip = 3.0f;
    QuantizeOptions o;
    o.name = "layer2.conv.input";
    o.input_nonnegative = nonneg;
    o.fixed_clip = {&clip, 1};
    const std::string e = lpt::testing::error_of([&] { quantize(z, Format::parse_text(json), o); });
    EXPECT_NE(e.find("layer2.conv.input"), std::string::npos) << e;
    EXPECT_NE(e.find(needle), std::string::npos) << e;
  }
  // The in-place kernel leaves the offending value for the message.
  Tensor y = bumpy_tensor({64}, 3);
  y.data<float>()[40] = INFINITY;
  const Format f = Format::parse_text(R"({"type":"int","bits":4,"granularity":"vector"})");
  EXPECT_THROW(quantize(f, y.data<float>(), y.data<float>(), BufferLayout::flat(64), {}), Error);
  EXPECT_EQ(y.data<float>()[40], INFINITY);
}

TEST(FormatInt, PerChannelNeedsAChannelAxis) {
  EXPECT_THROW(quantize(bumpy_tensor({4, 4}, 1), Format::parse_text(R"({"type":"int","granularity":"channel"})")),
               Error);
}

TEST(FormatInt, StatsReportClipScalesAndErrors) {
  // Percentile clipping at the 50th of |x| = {1..8}: clip 4, so 5..8 (half) are clipped.
  const Tensor x = Tensor::from_vector({8}, {1, -2, 3, -4, 5, -6, 7, -8});
  QuantizeStats s;
  QuantizeOptions o;
  o.stats = &s;
  const Tensor y =
      quantize(x, Format::parse_text(R"({"type":"int","bits":8,"clipping":"percentile","percentile":50})"), o);
  EXPECT_EQ(s.clip, (std::vector<float>{4}));
  EXPECT_EQ(s.scale, (std::vector<float>{4.0f / 127}));
  EXPECT_EQ(s.clipped_fraction, 0.5);
  EXPECT_EQ(s.flushed_fraction, 0.0);
  double signal = 0, noise = 0;
  for (int i = 0; i < 8; ++i) {
    signal += double(x.to_vector()[i]) * x.to_vector()[i];
    noise += std::pow(double(x.to_vector()[i]) - y.to_vector()[i], 2);
  }
  EXPECT_NEAR(s.sqnr_db, 10 * std::log10(signal / noise), 1e-9);
  // Per-vector scales: S_v statistics; a tiny value next to a large one flushes to zero.
  const Tensor v = Tensor::from_vector({4}, {100, 0.001f, 1, 1});
  QuantizeStats sv;
  o.stats = &sv;
  quantize(v, Format::parse_text(R"({"type":"int","bits":4,"granularity":"vector","vector_size":2,"scale_bits":4})"),
           o);
  EXPECT_EQ(sv.vector_scale_max, 15);
  EXPECT_EQ(sv.vector_scale_min, 1);
  EXPECT_EQ(sv.flushed_fraction, 0.25);
  EXPECT_EQ(sv.clipped_fraction, 0.0);
}

}  // namespace
}  // namespace lpt::formats
