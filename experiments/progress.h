#pragma once
// The live progress line: epoch, batch, loss, accuracy, images/s and ETA. On a terminal it is
// redrawn in place; otherwise (logs, CI) a line is printed every `every` steps.
#include <chrono>
#include <cstdint>
#include <string>

namespace lpt {

class ProgressLine {
 public:
  ProgressLine(int64_t total_steps, int64_t every);
  // Called after each step with the epoch's running loss and accuracy.
  void update(int64_t epoch, int64_t epochs, int64_t batch, int64_t batches, int64_t steps_done, double loss,
              double accuracy, int64_t images);
  void finish_line();  // ends the in-place line before other output

 private:
  using clock = std::chrono::steady_clock;
  int64_t total_steps_, every_;
  bool tty_;
  clock::time_point start_;
  int64_t start_step_ = -1;
  int64_t images_ = 0;
  bool open_ = false;
};

std::string format_duration(double seconds);  // "1h02m03s"

}  // namespace lpt
