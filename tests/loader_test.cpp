// The batch loader: batch layout and content, per-epoch order as a pure function of
// (seed, epoch), resume with skip_to, prefetching on/off identical, worker errors and shutdown.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <set>

#include "datasets/loader.h"
#include "datasets/synthetic.h"

namespace lpt::data {
namespace {

std::shared_ptr<SyntheticDataset> synthetic(int64_t size, SampleShape shape = {3, 6, 5}) {
  SyntheticOptions o;
  o.size = size;
  o.shape = shape;
  o.seed = 3;
  return std::make_shared<SyntheticDataset>(o);
}

LoaderOptions options(int64_t batch_size, uint64_t seed = 1, bool prefetch = true) {
  LoaderOptions o;
  o.batch_size = batch_size;
  o.seed = seed;
  o.prefetch = prefetch;
  return o;
}

Pipeline augment(int64_t size) {
  return Pipeline({std::make_shared<RandomCrop>(size, 2), std::make_shared<RandomHorizontalFlip>(0.5f),
                   std::make_shared<Normalize>(std::vector<float>{0.5f, 0.4f, 0.3f},
                                               std::vector<float>{0.2f, 0.25f, 0.3f})});
}

std::vector<Batch> epoch_batches(Loader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<Batch> out;
  while (std::optional<Batch> b = loader.next()) out.push_back(std::move(*b));
  return out;
}

void expect_same_batch(const Batch& a, const Batch& b) {
  EXPECT_EQ(a.indices, b.indices);
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.index, b.index);
  ASSERT_EQ(a.images.shape(), b.images.shape());
  EXPECT_EQ(a.images.to_vector(), b.images.to_vector());
  ASSERT_EQ(a.labels.numel(), b.labels.numel());
  EXPECT_TRUE(std::equal(a.labels.data<int32_t>(), a.labels.data<int32_t>() + a.labels.numel(), b.labels.data<int32_t>()));
}

TEST(Loader, BatchesAreChannelsLastCopiesOfTheSamples) {
  const auto data = synthetic(10);
  LoaderOptions o = options(4);
  o.drop_last = false;
  Loader loader(data, Pipeline(), o);
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  const std::vector<Batch> batches = epoch_batches(loader, 0);
  ASSERT_EQ(batches.size(), 3u);
  std::multiset<int64_t> seen;
  for (const Batch& b : batches) {
    const int64_t n = b.images.size(0);
    EXPECT_EQ(n, b.index < 2 ? 4 : 2);
    EXPECT_EQ(b.images.shape(), (Shape{n, 3, 6, 5}));
    EXPECT_EQ(b.images.dtype(), DType::f32);
    EXPECT_TRUE(b.images.is_channels_last());
    EXPECT_EQ(b.labels.shape(), (Shape{n}));
    EXPECT_EQ(b.labels.dtype(), DType::s32);
    ASSERT_EQ(int64_t(b.indices.size()), n);
    const float* nhwc = b.images.data<float>();
    std::vector<float> sample(90);
    int32_t label;
    for (int64_t i = 0; i < n; ++i) {
      seen.insert(b.indices[size_t(i)]);
      data->get(b.indices[size_t(i)], sample.data(), &label);
      EXPECT_EQ(b.labels.data<int32_t>()[i], label);
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < 6; ++y)
          for (int64_t x = 0; x < 5; ++x)
            ASSERT_EQ(nhwc[((i * 6 + y) * 5 + x) * 3 + c], sample[size_t((c * 6 + y) * 5 + x)]);
    }
  }
  EXPECT_EQ(seen, (std::multiset<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));  // every sample once

  Loader dropping(data, Pipeline(), options(4));
  EXPECT_EQ(dropping.batches_per_epoch(), 2);
  EXPECT_EQ(epoch_batches(dropping, 0).size(), 2u);
}

TEST(Loader, OrderIsAPureFunctionOfSeedAndEpoch) {
  const auto data = synthetic(100);
  Loader a(data, augment(6), options(16, 7));
  Loader b(data, augment(6), options(16, 7));
  const std::vector<Batch> a1 = epoch_batches(a, 1);
  epoch_batches(b, 0);  // another epoch first changes nothing
  const std::vector<Batch> b1 = epoch_batches(b, 1);
  ASSERT_EQ(a1.size(), 6u);
  for (size_t i = 0; i < a1.size(); ++i) expect_same_batch(a1[i], b1[i]);

  const std::vector<Batch> a2 = epoch_batches(a, 2);
  EXPECT_NE(a1[0].indices, a2[0].indices);
  Loader other_seed(data, augment(6), options(16, 8));
  EXPECT_NE(epoch_batches(other_seed, 1)[0].indices, a1[0].indices);
  EXPECT_EQ(Loader::epoch_order(100, 7, 1, true), Loader::epoch_order(100, 7, 1, true));
  EXPECT_NE(Loader::epoch_order(100, 7, 1, true), Loader::epoch_order(100, 7, 2, true));

  // The same sample gets different augmentation in different epochs.
  LoaderOptions fixed = options(100, 7);
  fixed.shuffle = false;
  Loader sequential(data, augment(6), fixed);
  const Batch e0 = epoch_batches(sequential, 0)[0];
  const Batch e1 = epoch_batches(sequential, 1)[0];
  EXPECT_EQ(e0.indices, e1.indices);
  EXPECT_EQ(e0.indices[5], 5);
  EXPECT_NE(e0.images.to_vector(), e1.images.to_vector());
}

TEST(Loader, SkipToEqualsIterating) {
  const auto data = synthetic(90);
  for (bool prefetch : {true, false}) {
    Loader full(data, augment(6), options(8, 2, prefetch));
    const std::vector<Batch> all = epoch_batches(full, 3);
    ASSERT_EQ(all.size(), 11u);
    Loader resumed(data, augment(6), options(8, 2, prefetch));
    resumed.start_epoch(3);
    resumed.skip_to(7);
    EXPECT_EQ(resumed.position(), 7);
    for (size_t k = 7; k < all.size(); ++k) {
      std::optional<Batch> b = resumed.next();
      ASSERT_TRUE(b);
      expect_same_batch(*b, all[k]);
    }
    EXPECT_FALSE(resumed.next());
    // Jumping backwards and forwards mid-epoch (with a batch prefetched) also lands exactly.
    resumed.start_epoch(3);
    resumed.next();
    resumed.skip_to(2);
    expect_same_batch(*resumed.next(), all[2]);
    resumed.skip_to(9);
    expect_same_batch(*resumed.next(), all[9]);
    resumed.skip_to(11);
    EXPECT_FALSE(resumed.next());
    EXPECT_THROW(resumed.skip_to(12), Error);
  }
}

TEST(Loader, PrefetchingDoesNotChangeTheBatches) {
  const auto data = synthetic(200, {3, 8, 8});
  Loader on(data, augment(8), options(32, 5, true));
  Loader off(data, augment(8), options(32, 5, false));
  EXPECT_EQ(on.sample_shape(), (SampleShape{3, 8, 8}));
  for (int64_t epoch : {0, 4}) {
    const std::vector<Batch> a = epoch_batches(on, epoch), b = epoch_batches(off, epoch);
    ASSERT_EQ(a.size(), 6u);
    ASSERT_EQ(b.size(), 6u);
    for (size_t i = 0; i < a.size(); ++i) expect_same_batch(a[i], b[i]);
    // And equal to the synchronous builder.
    expect_same_batch(a[3], on.make_batch(Loader::epoch_order(200, 5, epoch, true), epoch, 3));
  }
}

// Data-parallel shards (SPEC §10): the shards of a batch, concatenated in shard order, are the
// batch one process gets — same samples, same augmentation (keyed by the sample's index), same
// images — also for a last partial batch split unevenly, where a shard may be empty.
TEST(Loader, ShardsConcatenateToTheSingleProcessBatch) {
  const auto data = synthetic(65, {3, 8, 8});
  LoaderOptions whole = options(32, 5);
  whole.drop_last = false;
  Loader single(data, augment(8), whole);
  for (int64_t shards : {2, 3}) {
    std::vector<std::unique_ptr<Loader>> parts;
    for (int64_t s = 0; s < shards; ++s) {
      LoaderOptions o = whole;
      o.shard = s;
      o.shards = shards;
      parts.push_back(std::make_unique<Loader>(data, augment(8), o));
      EXPECT_EQ(parts.back()->batches_per_epoch(), single.batches_per_epoch());
    }
    for (int64_t epoch : {0, 3}) {
      const std::vector<Batch> expected = epoch_batches(single, epoch);
      ASSERT_EQ(expected.size(), 3u);  // 32, 32, 1: the last one's shards but one are empty
      std::vector<std::vector<Batch>> got;
      for (auto& p : parts) got.push_back(epoch_batches(*p, epoch));
      for (size_t b = 0; b < expected.size(); ++b) {
        std::vector<int64_t> indices;
        std::vector<float> images;
        std::vector<int32_t> labels;
        for (int64_t s = 0; s < shards; ++s) {
          const Batch& part = got[size_t(s)][b];
          EXPECT_EQ(part.index, int64_t(b));
          const int64_t count = int64_t(expected[b].indices.size());
          ASSERT_EQ(int64_t(part.indices.size()), count * (s + 1) / shards - count * s / shards);
          if (part.indices.empty()) continue;
          indices.insert(indices.end(), part.indices.begin(), part.indices.end());
          const std::vector<float> v = part.images.to_vector();
          images.insert(images.end(), v.begin(), v.end());
          labels.insert(labels.end(), part.labels.data<int32_t>(), part.labels.data<int32_t>() + part.labels.numel());
        }
        EXPECT_EQ(indices, expected[b].indices);
        EXPECT_EQ(images, expected[b].images.to_vector());
        EXPECT_EQ(labels, std::vector<int32_t>(expected[b].labels.data<int32_t>(),
                                               expected[b].labels.data<int32_t>() + expected[b].labels.numel()));
      }
    }
  }
  LoaderOptions bad = whole;
  bad.shard = 2;
  bad.shards = 2;
  EXPECT_THROW(Loader(data, augment(8), bad), Error);
}

// Throws for one sample; counts calls so the test can see the worker ran.
class FailingDataset : public Dataset {
 public:
  int64_t size() const override { return 20; }
  int num_classes() const override { return 2; }
  SampleShape sample_shape() const override { return {1, 2, 2}; }
  void get(int64_t index, float* out, int32_t* label) const override {
    ++calls;
    if (index == 13) fail("dataset 'failing': sample 13 is unreadable");
    std::fill(out, out + 4, float(index));
    *label = int32_t(index % 2);
  }
  std::string name() const override { return "failing"; }
  std::string path() const override { return ""; }
  mutable std::atomic<int> calls{0};
};

TEST(Loader, WorkerErrorsReachTheCallerAndShutdownIsClean) {
  const auto data = std::make_shared<FailingDataset>();
  LoaderOptions o = options(5);
  o.shuffle = false;  // sample 13 is in batch 2
  Loader loader(data, Pipeline(), o);
  EXPECT_TRUE(loader.next());
  EXPECT_TRUE(loader.next());
  try {
    loader.next();
    ADD_FAILURE() << "expected the worker's error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sample 13"), std::string::npos);
  }
  EXPECT_EQ(loader.position(), 2);  // the failed batch was not consumed
  loader.skip_to(3);
  std::optional<Batch> b = loader.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->indices.front(), 15);
  EXPECT_FALSE(loader.next());

  // Destroying loaders with a batch in flight or never used joins their workers.
  for (int i = 0; i < 20; ++i) {
    Loader busy(synthetic(64), augment(6), options(16));
    busy.next();  // batch 1 is now being prefetched
  }
  { Loader unused(data, Pipeline(), o); }
  EXPECT_GT(data->calls.load(), 15);
}

}  // namespace
}  // namespace lpt::data
