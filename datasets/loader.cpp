#include "datasets/loader.h"

#include <algorithm>
#include <numeric>
#include <utility>

namespace lpt::data {

Loader::Loader(std::shared_ptr<const Dataset> dataset, Pipeline transforms, LoaderOptions options)
    : dataset_(std::move(dataset)), transforms_(std::move(transforms)), options_(options) {
  LPT_CHECK(options_.batch_size > 0, "loader for '", dataset_->name(), "': batch size ", options_.batch_size,
            " must be positive");
  LPT_CHECK(options_.shards >= 1 && options_.shard >= 0 && options_.shard < options_.shards, "loader for '",
            dataset_->name(), "': shard ", options_.shard, " of ", options_.shards, " does not exist");
  out_shape_ = transforms_.output_shape(dataset_->sample_shape());
  start_epoch(0);
  if (options_.prefetch) worker_ = std::thread([this] { worker_loop(); });
}

Loader::~Loader() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

int64_t Loader::batches_per_epoch() const {
  const int64_t n = dataset_->size(), bs = options_.batch_size;
  return options_.drop_last ? n / bs : (n + bs - 1) / bs;
}

std::vector<int64_t> Loader::epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  if (shuffle) return seeded_permutation(n, seed, stable_hash("loader_shuffle") + uint64_t(epoch));
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t(0));
  return order;
}

void Loader::start_epoch(int64_t epoch) {
  LPT_CHECK(epoch >= 0, "loader for '", dataset_->name(), "': epoch ", epoch, " must be >= 0");
  discard_pending();
  epoch_ = epoch;
  order_ = std::make_shared<const std::vector<int64_t>>(
      epoch_order(dataset_->size(), options_.seed, epoch, options_.shuffle));
  position_ = 0;
}

void Loader::skip_to(int64_t batch_index) {
  LPT_CHECK(batch_index >= 0 && batch_index <= batches_per_epoch(), "loader for '", dataset_->name(),
            "': cannot skip to batch ", batch_index, " of an epoch with ", batches_per_epoch(), " batches");
  if (batch_index != pending_batch_) discard_pending();
  position_ = batch_index;
}

Batch Loader::make_batch(const std::vector<int64_t>& order, int64_t epoch, int64_t batch_index) const {
  const int64_t bs = options_.batch_size;
  const int64_t first = batch_index * bs;
  const int64_t global_count = std::min<int64_t>(bs, int64_t(order.size()) - first);
  LPT_CHECK(batch_index >= 0 && global_count > 0, "loader for '", dataset_->name(), "': no batch ", batch_index);
  const SampleShape o = out_shape_;
  Batch b;
  b.epoch = epoch;
  b.index = batch_index;
  // This shard's part of the global batch (all of it without sharding).
  const int64_t begin = first + global_count * options_.shard / options_.shards;
  const int64_t end = first + global_count * (options_.shard + 1) / options_.shards;
  const int64_t count = end - begin;
  if (count == 0) return b;
  b.indices.assign(order.begin() + begin, order.begin() + end);
  b.images = Tensor::empty({count, o.c, o.h, o.w}, DType::f32, MemoryFormat::channels_last);
  b.labels = Tensor::empty({count}, DType::s32);
  float* images = b.images.data<float>();
  int32_t* labels = b.labels.data<int32_t>();
  std::vector<float> sample, scratch;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t index = b.indices[size_t(i)];
    SampleShape shape = dataset_->sample_shape();
    sample.resize(size_t(shape.numel()));
    dataset_->get(index, sample.data(), &labels[i]);
    transforms_.apply(sample, shape, {options_.seed, epoch, index}, scratch);
    // CHW sample -> the i-th HWC block of the channels-last batch.
    float* dst = images + i * o.numel();
    for (int64_t c = 0; c < o.c; ++c)
      for (int64_t p = 0; p < o.h * o.w; ++p) dst[p * o.c + c] = sample[size_t(c * o.h * o.w + p)];
  }
  return b;
}

std::optional<Batch> Loader::next() {
  const int64_t count = batches_per_epoch();
  if (position_ >= count) return std::nullopt;
  std::optional<Batch> batch;
  if (!options_.prefetch) {
    batch = make_batch(*order_, epoch_, position_);
  } else {
    if (pending_batch_ != position_) {
      discard_pending();
      post({order_, epoch_, position_});
    }
    batch = wait_result();  // rethrows the worker's error
    if (position_ + 1 < count) post({order_, epoch_, position_ + 1});
  }
  ++position_;
  return batch;
}

void Loader::worker_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || job_.has_value(); });
    if (stop_) return;
    const Job job = std::move(*job_);
    job_.reset();
    lock.unlock();
    std::optional<Batch> batch;
    std::exception_ptr error;
    try {
      batch = make_batch(*job.order, job.epoch, job.batch_index);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    result_ = std::move(batch);
    error_ = error;
    busy_ = false;
    cv_.notify_all();
  }
}

void Loader::post(Job job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = std::move(job);
    busy_ = true;
    pending_batch_ = job_->batch_index;
  }
  cv_.notify_all();
}

std::optional<Batch> Loader::wait_result() {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [this] { return !busy_; });
  pending_batch_ = -1;
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  return std::exchange(result_, std::nullopt);
}

void Loader::discard_pending() {
  if (pending_batch_ < 0) return;
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [this] { return !busy_; });
  pending_batch_ = -1;
  result_.reset();
  error_ = nullptr;
}

}  // namespace lpt::data
