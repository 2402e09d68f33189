#include "experiments/mid_step_checkpoint.h"

#include <cstdio>
#include <exception>

#include "experiments/interrupt.h"

namespace lpt {

MidStepCheckpoint::MidStepCheckpoint(Write write) : write_(std::move(write)), thread_([this] { watch(); }) {}

MidStepCheckpoint::~MidStepCheckpoint() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  window_opened_.notify_all();
  wake_interrupt_waiters();
  thread_.join();
}

void MidStepCheckpoint::step_starts(StepStart start) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    start_ = std::move(start);
  }
  window_opened_.notify_all();
}

void MidStepCheckpoint::before_update() {
  std::lock_guard<std::mutex> lock(mutex_);
  start_.reset();
}

void MidStepCheckpoint::watch() {
  std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
  for (;;) {  // a wake without a signal is an earlier instance's goodbye
    wait_for_interrupt();
    lock.lock();
    if (quit_) return;
    if (interrupt_requested()) break;
    lock.unlock();
  }
  // A signal between steps (during an update, an evaluation): the boundary after it checkpoints,
  // unless the process is still running the next step by then; so wait for that step's start.
  window_opened_.wait(lock, [&] { return quit_ || start_.has_value(); });
  if (quit_) return;
  try {
    write_(*start_);
    std::fprintf(stderr, "lpt: signal during step %ld: checkpoint of step %ld written %.2f s after the signal\n",
                 long(start_->progress.step + 1), long(start_->progress.step), seconds_since_interrupt());
  } catch (const std::exception& e) {  // the boundary's write will report it, or the last checkpoint stays
    std::fprintf(stderr, "lpt: signal during step %ld: writing the checkpoint failed: %s\n",
                 long(start_->progress.step + 1), e.what());
  }
}

}  // namespace lpt
