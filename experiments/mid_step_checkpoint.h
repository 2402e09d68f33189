#pragma once
// A signal in the middle of a long step still leaves a checkpoint within a short grace period.
//
// The trainer stops at a step boundary when a signal comes, and writes its checkpoint there. A
// step can outlast the grace period the sender allows (OpenMPI's mpirun SIGKILLs its ranks 1 s
// after forwarding SIGTERM; batch systems allow seconds to a minute), and the steps since the last
// checkpoint would be lost. So while a step runs, a thread woken by the first signal writes the
// checkpoint of the last completed step: its parameters and optimizer state are untouched until
// the step's update, and what the forward pass changes before then (batch-norm running
// statistics, quantizer state) was recorded when the step started (StepStart). The update waits
// for a write in progress. The step then goes on, and the boundary writes the newer checkpoint
// if the process lives that long.
//
// The writing process only (rank 0): the thread reads tensors and writes HDF5, it never calls MPI.
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "experiments/checkpoint.h"

namespace lpt {

class MidStepCheckpoint {
 public:
  using Write = std::function<void(const StepStart&)>;
  explicit MidStepCheckpoint(Write write);
  ~MidStepCheckpoint();
  MidStepCheckpoint(const MidStepCheckpoint&) = delete;
  MidStepCheckpoint& operator=(const MidStepCheckpoint&) = delete;

  // A step starts from `start`: until before_update() the parameters and optimizer state are
  // those of `start`'s step.
  void step_starts(StepStart start);
  // The step is about to update the parameters; waits for a write in progress.
  void before_update();

 private:
  void watch();

  Write write_;
  std::mutex mutex_;
  std::condition_variable window_opened_;
  std::optional<StepStart> start_;  // set from step_starts() to before_update()
  bool quit_ = false;
  std::thread thread_;
};

}  // namespace lpt
