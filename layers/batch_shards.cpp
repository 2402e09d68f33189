#include "layers/batch_shards.h"

namespace lpt {

namespace {
std::optional<formats::ShardReduce>& current() {
  static std::optional<formats::ShardReduce> shards;
  return shards;
}
}  // namespace

void set_batch_shards(std::optional<formats::ShardReduce> shards) { current() = std::move(shards); }

const formats::ShardReduce* batch_shards() { return current() ? &*current() : nullptr; }

}  // namespace lpt
