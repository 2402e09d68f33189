#include "experiments/progress.h"

#include <algorithm>
#include <cstdio>
#include <unistd.h>

namespace lpt {

std::string format_duration(double seconds) {
  const int64_t s = int64_t(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm%02lds", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  return buf;
}

ProgressLine::ProgressLine(int64_t total_steps, int64_t every)
    : total_steps_(total_steps), every_(every), tty_(isatty(fileno(stderr))) {}

void ProgressLine::update(int64_t epoch, int64_t epochs, int64_t batch, int64_t batches, int64_t steps_done,
                          double loss, double accuracy, int64_t images) {
  const auto now = clock::now();
  if (start_step_ < 0) {  // rates count from the first step seen (after warm-up of this process)
    start_ = now;
    start_step_ = steps_done;
    images_ = 0;
    return;
  }
  images_ += images;
  if (batch != batches && steps_done % every_ != 0) return;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double rate = secs > 0 ? double(images_) / secs : 0.0;
  const double step_secs = secs / double(std::max<int64_t>(steps_done - start_step_, 1));
  const double eta = step_secs * double(total_steps_ - steps_done);
  std::fprintf(stderr, "%sepoch %ld/%ld  batch %ld/%ld  loss %.4f  acc %.2f%%  %.0f img/s  ETA %s%s",
               tty_ ? "\r\033[K" : "", epoch, epochs, batch, batches, loss, 100.0 * accuracy, rate,
               format_duration(eta).c_str(), tty_ ? "" : "\n");
  std::fflush(stderr);
  open_ = tty_;
}

void ProgressLine::finish_line() {
  if (open_) std::fputc('\n', stderr);
  open_ = false;
}

}  // namespace lpt
