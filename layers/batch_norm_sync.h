#pragma once
// Synchronised batch norm for data-parallel training (SPEC §10, /distributed/sync_batchnorm): a
// process-wide switch, like the thread count. While a sum is set, every BatchNorm2d in training
// mode normalises with the statistics of the global batch (core/ops/batch_norm.h); unset (the
// default, and always in a single process) it uses its own batch's.
#include "core/ops/batch_norm.h"

namespace lpt {

void set_batch_norm_sync(ops::ProcessSum sum);  // an empty function: local statistics
bool batch_norm_sync_enabled();

}  // namespace lpt
