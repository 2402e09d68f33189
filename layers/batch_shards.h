#pragma once
// Data-parallel training (SPEC §10), a process-wide setting like the thread count: while a data-
// parallel training step runs, every tensor that follows the batch is this process's shard of the
// global batch. The layers then do what one process does with the whole batch: quantizers of
// activations and errors take their statistics over all shards (formats::ShardReduce), and
// dropout and stochastic rounding key their randomness by the global element index. Unset (the
// default, always in one process): each tensor is the whole batch.
#include <optional>

#include "formats/common.h"

namespace lpt {

void set_batch_shards(std::optional<formats::ShardReduce> shards);
const formats::ShardReduce* batch_shards();  // null: unset

}  // namespace lpt
