#pragma once
// Checkpoints: one HDF5 file holding everything a run needs to continue bit-exactly.
//   /model/<state_dict name>        parameters and buffers (PyTorch names and layouts)
//   /optimizer/<i>/<param>.<key>    state tensors of the run's i-th optimizer (momentum_buffer, ...)
//   /optimizer/<i> attributes       its per-parameter update counts ("<param name>.step")
//   /  attributes                   format "lpt-checkpoint", version, epoch, step, batch_in_epoch,
//                                   the epoch's running loss/accuracy sums, seed, threads, config,
//                                   world_size (data-parallel processes; absent: one)
// All randomness is counter-based (Philox keyed by seed, step and ids) and the data order is a
// pure function of (seed, epoch), so (seed, epoch, step, batch_in_epoch) restore it exactly.
// Files are written durably (core/durable_file.h: temporary file, checked close, fsync, rename,
// fsync of the directory): a failure at any step leaves the previous checkpoint intact.
#include <string>

#include "experiments/schema.h"
#include "layers/module.h"
#include "experiments/optimizer_setup.h"

namespace lpt {

// Where training stands: `epoch` epochs are complete and `batch_in_epoch` batches of the next one
// are done; the sums are the current epoch's so far.
struct TrainingProgress {
  int64_t epoch = 0;
  int64_t step = 0;
  int64_t batch_in_epoch = 0;
  double loss_sum = 0;    // sum over the epoch's batches of batch-mean loss * batch size
  int64_t correct = 0;    // correctly classified training images this epoch
  int64_t seen = 0;       // training images this epoch
  double seconds = 0;     // training time of this epoch so far
};

// What a checkpoint holds besides the parameters and the optimizer state: what a step's forward
// pass changes before its update (batch-norm running statistics, quantizer state), the GEMM lanes
// and the progress. Recorded when a step starts, it lets the checkpoint of the last completed step
// be written while the next step runs (experiments/mid_step_checkpoint.h).
struct StepStart {
  TrainingProgress progress;
  std::vector<std::pair<std::string, Tensor>> buffers;                  // copies, by state_dict name
  std::vector<std::pair<std::string, std::vector<float>>> quantizers;  // quantizer_state()
  json gemm_lanes;                                                     // gemm_lane_plan()
};
StepStart record_step_start(Module& model, const TrainingProgress& progress);

// The model's parameters and the optimizers' state as they are, the rest from `at`.
void save_checkpoint(const std::string& path, Module& model, const OptimizerSet& optimizers, const StepStart& at,
                     const json& config, int threads, int world_size = 1);
// Everything as it is now.
void save_checkpoint(const std::string& path, Module& model, const OptimizerSet& optimizers,
                     const TrainingProgress& progress, const json& config, int threads, int world_size = 1);

struct LoadedCheckpoint {
  TrainingProgress progress;
  json config;
  int threads = 0;
  int world_size = 1;  // processes of the data-parallel run that wrote it
  json gemm_lanes;  // gemm_lane_plan() when written; null in checkpoints older than the lanes
};
// Restores model, optimizers and progress. Throws naming the first tensor that is missing, extra or
// of the wrong shape; the model is unchanged when it throws.
LoadedCheckpoint load_checkpoint(const std::string& path, Module& model, OptimizerSet& optimizers);

// A checkpoint's config, progress and threads, without loading it into a model.
LoadedCheckpoint peek_checkpoint(const std::string& path);

// Every parameter and buffer by its state_dict name (what /model holds).
std::vector<std::pair<std::string, Tensor*>> model_tensors(Module& model);

// Weights and buffers only (init_from / evaluation), same checks.
void load_model_weights(const std::string& path, Module& model);

}  // namespace lpt
