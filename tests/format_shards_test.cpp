// Data-parallel quantization (SPEC §10): two processes, each quantizing its half of a batch with
// the statistics combined over both (QuantizeOptions::shards), give what one process gives for the
// whole batch. The two processes are two threads here; the combining mirrors core/dist's World
// (maxima; sums added in rank order). The data are multiples of 2^-10 of modest size, so every
// double sum is exact whatever its order and the comparison can be bit for bit.
#include <gtest/gtest.h>

#include <barrier>
#include <thread>

#include "core/philox.h"
#include "formats/quantize.h"

namespace lpt::formats {
namespace {

// Two shards' reductions meeting at a barrier: each contributes its values, then reads the result.
class TwoShards {
 public:
  ShardReduce of(int rank, int64_t samples) {
    return ShardReduce{
        .max = [this, rank](std::span<float> v) {
          combine(rank, v, floats_, [](float a, float b) { return std::max(a, b); });
        },
        .sum = [this, rank](std::span<double> v) { combine(rank, v, doubles_, [](double a, double b) { return a + b; }); },
        .shard = rank,
        .samples = samples};
  }

 private:
  template <class T, class Op>
  void combine(int rank, std::span<T> v, std::vector<T> (&parts)[2], Op op) {
    parts[rank].assign(v.begin(), v.end());
    sync_.arrive_and_wait();
    for (size_t i = 0; i < v.size(); ++i) v[i] = op(parts[0][i], parts[1][i]);  // rank 0, then rank 1
    sync_.arrive_and_wait();
  }
  std::barrier<> sync_{2};
  std::vector<float> floats_[2];
  std::vector<double> doubles_[2];
};

constexpr int64_t kBatch = 8, kChannels = 6, kLen = 32;

// Multiples of 2^-10 in [-4, 4], with one channel's values ten times larger (so per-channel and
// per-tensor statistics differ) and some exact zeros.
std::vector<float> batch_data() {
  RandomStream rs(11, 3);
  std::vector<float> x(size_t(kBatch * kChannels * kLen));
  for (size_t i = 0; i < x.size(); ++i) {
    const int k = int(rs.uniform(i) * 8193.0f) - 4096;
    const bool loud = (i / size_t(kLen)) % size_t(kChannels) == 2;
    x[i] = (i % 7 == 0) ? 0.0f : float(k) / 1024.0f * (loud ? 8.0f : 1.0f);
  }
  return x;
}

struct Result {
  std::vector<float> y;
  std::vector<float> clip;
};

// Quantizes rows [b0, b0 + rows) of the batch as a [rows, kChannels, kLen] tensor, runs along
// `axis`, channel groups along axis 1.
Result quantize_rows(const Format& f, const std::vector<float>& x, int64_t b0, int64_t rows, int axis,
                     const ShardReduce* shards) {
  const int64_t per_row = kChannels * kLen;
  Result r{std::vector<float>(size_t(rows * per_row)), {}};
  QuantizeStats stats;
  QuantizeOptions o;
  o.name = "layer.activations";
  o.rounding.seed = 5;
  o.rounding.step = 9;
  o.rounding.tensor_id = 77;
  o.shards = shards;
  o.stats = &stats;
  o.error_stats = false;
  quantize(f, x.data() + b0 * per_row, r.y.data(), BufferLayout::row_major({rows, kChannels, kLen}, axis, 1), o);
  r.clip = stats.clip;
  return r;
}

// The two halves quantized in parallel as shards, concatenated; and their clip values (rank 0's).
Result quantize_as_two_shards(const Format& f, const std::vector<float>& x, int axis) {
  TwoShards two;
  const ShardReduce s0 = two.of(0, kBatch / 2), s1 = two.of(1, kBatch / 2);
  Result r0, r1;
  std::exception_ptr e0, e1;
  std::thread t1([&] {
    try {
      r1 = quantize_rows(f, x, kBatch / 2, kBatch / 2, axis, &s1);
    } catch (...) {
      e1 = std::current_exception();
    }
  });
  try {
    r0 = quantize_rows(f, x, 0, kBatch / 2, axis, &s0);
  } catch (...) {
    e0 = std::current_exception();
  }
  t1.join();
  if (e0) std::rethrow_exception(e0);
  if (e1) std::rethrow_exception(e1);
  EXPECT_EQ(r0.clip, r1.clip) << "the shards disagree on their statistics";
  r0.y.insert(r0.y.end(), r1.y.begin(), r1.y.end());
  return r0;
}

TEST(FormatShards, TwoShardsQuantizeAsTheWholeBatch) {
  const std::vector<float> x = batch_data();
  for (const char* json : {
           R"({"type":"int","bits":8,"signed":true})",
           R"({"type":"int","bits":4,"signed":true,"granularity":"channel"})",
           R"({"type":"int","bits":4,"signed":true,"clipping":"octav"})",
           R"({"type":"int","bits":3,"signed":true,"granularity":"channel","clipping":"octav"})",
           R"({"type":"int","bits":4,"signed":true,"granularity":"channel","clipping":"mse"})",
           R"({"type":"int","bits":4,"signed":true,"granularity":"vector","vector_size":16,"scale_bits":4})",
           R"({"type":"int","bits":4,"signed":true,"granularity":"vector","scale_bits":4,"rounding":"stochastic"})",
           R"({"type":"int","bits":4,"signed":true,"rounding":"stochastic"})",
           R"({"type":"fp8_e4m3","scale":"tensor"})",
           R"({"type":"fp4_e2m1","scale":"tensor","pow2_scale":true,"rounding":"stochastic"})",
           R"({"type":"lns","bits":8,"gamma":8})",
           R"({"type":"lns","bits":8,"gamma":8,"granularity":"channel"})",
           R"({"type":"lns","bits":8,"gamma":8,"rounding":"stochastic"})",
           R"({"type":"mx","element":"fp4_e2m1","rounding":"stochastic"})",
           R"({"type":"hbfp","mantissa_bits":3,"block_size":16})",
       }) {
    SCOPED_TRACE(json);
    const Format f = Format::parse_text(json);
    const Result whole = quantize_rows(f, x, 0, kBatch, 2, nullptr);
    const Result shards = quantize_as_two_shards(f, x, 2);
    EXPECT_EQ(shards.clip, whole.clip);
    ASSERT_EQ(shards.y.size(), whole.y.size());
    size_t differ = 0;
    for (size_t i = 0; i < whole.y.size(); ++i) differ += std::bit_cast<uint32_t>(shards.y[i]) != std::bit_cast<uint32_t>(whole.y[i]);
    EXPECT_EQ(differ, 0u);
  }
}

// Without the combining, each half takes its own statistics: the test above can tell.
TEST(FormatShards, HalvesWithoutCombinedStatisticsDiffer) {
  const std::vector<float> x = batch_data();
  const Format f = Format::parse_text(R"({"type":"int","bits":3,"signed":true,"clipping":"octav"})");
  const Result whole = quantize_rows(f, x, 0, kBatch, 2, nullptr);
  const Result half = quantize_rows(f, x, 0, kBatch / 2, 2, nullptr);
  EXPECT_NE(half.clip, whole.clip);
}

TEST(FormatShards, BlocksAcrossTheBatchMustNotStraddleShards) {
  const std::vector<float> x = batch_data();
  // Runs along the batch axis: each shard holds 4 values of a run, not a whole block of 16.
  try {
    quantize_as_two_shards(Format::parse_text(R"({"type":"hbfp","mantissa_bits":3,"block_size":16})"), x, 0);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer.activations"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("straddle"), std::string::npos) << e.what();
  }
  // Blocks of 4 fit each shard's 4 values: fine, and equal to the whole batch's.
  const Format f = Format::parse_text(R"({"type":"hbfp","mantissa_bits":3,"block_size":4})");
  EXPECT_EQ(quantize_as_two_shards(f, x, 0).y, quantize_rows(f, x, 0, kBatch, 0, nullptr).y);
}

TEST(FormatShards, PercentileClippingIsRefused) {
  const std::vector<float> x = batch_data();
  EXPECT_THROW(quantize_as_two_shards(
                   Format::parse_text(R"({"type":"int","bits":6,"signed":true,"clipping":"percentile","percentile":99.9})"),
                   x, 2),
               Error);
}

}  // namespace
}  // namespace lpt::formats
