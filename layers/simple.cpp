#include "layers/simple.h"

#include "layers/batch_shards.h"

namespace lpt {

Variable Dropout::forward(const Variable& x) {
  const RandomStream stream = step_stream(seed_, step_, stable_hash(name().c_str()));
  const formats::ShardReduce* shards = batch_shards();  // keyed by the global batch's element index
  return ops::dropout(x, p_, training(), stream, shards ? shards->shard * x.data().numel() : 0);
}

}  // namespace lpt
