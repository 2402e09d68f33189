#pragma once
// Mini-batches from a Dataset: a per-epoch shuffled order that is a pure function of
// (seed, epoch), per-sample transforms keyed by (seed, epoch, sample index), and a background
// thread that prepares the next batch while the caller trains on the current one. A batch's
// content depends only on (seed, epoch, batch index): resuming needs nothing but those, and
// prefetching on or off gives the same batches.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/tensor.h"
#include "datasets/dataset.h"
#include "datasets/transforms.h"

namespace lpt::data {

struct Batch {
  Tensor images;                 // [N, C, H, W] f32, channels-last memory
  Tensor labels;                 // [N] s32
  std::vector<int64_t> indices;  // the samples' indices in the dataset (empty: an empty shard)
  int64_t epoch = 0;
  int64_t index = 0;             // batch index within the epoch
};

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;     // false: dataset order every epoch
  bool drop_last = true;   // drop the final partial batch
  uint64_t seed = 0;       // the experiment seed: shuffling and augmentation
  bool prefetch = true;    // prepare the next batch on a background thread
  // Data-parallel sharding (SPEC §10): each batch is the part `shard` of `shards` contiguous parts
  // of the global batch of batch_size, in the order one process uses: global positions
  // [count·shard/shards, count·(shard+1)/shards) of a batch of count samples (a shard may be empty
  // when count < shards). Batch counts and orders are those of the global batches.
  int64_t shard = 0;
  int64_t shards = 1;
};

class Loader {
 public:
  Loader(std::shared_ptr<const Dataset> dataset, Pipeline transforms, LoaderOptions options);
  ~Loader();  // stops and joins the worker
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t batches_per_epoch() const;
  SampleShape sample_shape() const { return out_shape_; }  // after the transforms
  const Dataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return options_; }

  // Positions the loader at the start of `epoch` (its order is computed here).
  void start_epoch(int64_t epoch);
  // Positions the loader at batch `batch_index` of the current epoch (resume).
  void skip_to(int64_t batch_index);
  // The next batch of the current epoch, or nullopt after its last one. Rethrows any error the
  // worker hit while preparing it.
  std::optional<Batch> next();
  int64_t epoch() const { return epoch_; }
  int64_t position() const { return position_; }  // index of the batch next() returns

  // The sample order of an epoch: seeded_permutation(n, seed, stream of epoch), or 0..n-1.
  static std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle);
  // Builds batch `batch_index` of `order` synchronously (what the worker runs).
  Batch make_batch(const std::vector<int64_t>& order, int64_t epoch, int64_t batch_index) const;

 private:
  struct Job {
    std::shared_ptr<const std::vector<int64_t>> order;
    int64_t epoch, batch_index;
  };
  void worker_loop();
  void post(Job job);                 // hands a job to the idle worker
  std::optional<Batch> wait_result();  // waits for the posted job; rethrows its error
  void discard_pending();              // waits for an in-flight job and drops its result

  std::shared_ptr<const Dataset> dataset_;
  Pipeline transforms_;
  LoaderOptions options_;
  SampleShape out_shape_;
  std::shared_ptr<const std::vector<int64_t>> order_;
  int64_t epoch_ = -1;
  int64_t position_ = 0;

  // Shared with the worker, guarded by mutex_.
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<Job> job_;             // posted, not yet taken by the worker
  bool busy_ = false;                  // a job is posted or being built
  std::optional<Batch> result_;
  std::exception_ptr error_;
  bool stop_ = false;
  int64_t pending_batch_ = -1;  // the batch the posted job builds (-1: none); caller's thread only
};

}  // namespace lpt::data
