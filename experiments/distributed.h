#pragma once
// What `lpt train` does differently under `mpirun -np N` (SPEC §10, README "Data-parallel
// training"): the config checks of a data-parallel run, rank 0's model and checkpoint sent to the
// other ranks, and the parameter checksum that catches ranks drifting apart.
#include <string>

#include "core/dist/world.h"
#include "experiments/schema.h"
#include "layers/module.h"

namespace lpt {

// Throws a config error (before any training) when the run cannot be data-parallel over `world`:
// training.batch_size not divisible by the number of processes, a last partial batch
// (drop_last false) that does not split evenly, or a setting whose data-parallel form is not
// implemented yet (quantization other than of weight gradients alone; MobileNetV2's dropout).
// Nothing is checked in a world of one.
void check_data_parallel_config(const json& config, int64_t train_size, int64_t steps_per_epoch,
                                const dist::World& world);

// Rank 0's parameters and buffers to every rank (so all start from the same model).
void broadcast_model(Module& model, dist::World& world);
// Rank 0's buffers (BN running statistics) to every rank: with local BN statistics each rank's
// running statistics follow its own shards; evaluation and checkpoints use rank 0's.
void broadcast_buffers(Module& model, dist::World& world);

// Compares a 64-bit checksum of every parameter across ranks; throws (on every rank) naming the
// first parameter whose checksum differs and the ranks that disagree with rank 0.
void check_parameters_agree(Module& model, dist::World& world, int64_t step);

// Rank 0 reads the file at `path` and sends its bytes; the other ranks write them to a temporary
// file outside the run directory (so no shared file system is needed). Returns the file each rank
// should read: `path` on rank 0, the temporary on the others (remove it when done).
std::string share_file_from_rank0(const std::string& path, dist::World& world);

}  // namespace lpt
