#include "experiments/interrupt.h"

#include <semaphore.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <unistd.h>

#include <string>

#include "core/error.h"

namespace lpt {

namespace {
std::atomic<int> g_first_signal{0};

// Posted by the first signal (sem_post is async-signal-safe) and by wake_interrupt_waiters().
struct Semaphore {
  sem_t sem;
  Semaphore() { sem_init(&sem, 0, 0); }
} g_signalled;
timespec g_signal_time{};  // when the first signal came (read after wait_for_interrupt())

// LPT_TEST_RANK=R restricts the test hooks to rank R of an mpirun job.
bool test_hooks_apply_here() {
  static const bool here = [] {
    const char* only = std::getenv("LPT_TEST_RANK");
    const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
    return !only || std::string(only) == (rank ? rank : "0");
  }();
  return here;
}

// Printed before a hook acts, so a test measures how long the job takes to end after the failure
// itself (CLOCK_MONOTONIC is one clock for every process of the machine) rather than comparing
// two whole runs, whose times a loaded machine stretches unequally.
void announce_test_failure() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  std::fprintf(stderr, "lpt: test hook fails this rank at monotonic second %.3f\n", double(now.tv_sec) + now.tv_nsec * 1e-9);
  std::fflush(stderr);
}

void on_signal(int signo) {
  int none = 0;
  if (!g_first_signal.compare_exchange_strong(none, signo)) _exit(128 + signo);
  clock_gettime(CLOCK_MONOTONIC, &g_signal_time);  // async-signal-safe
  sem_post(&g_signalled.sem);
}
}  // namespace

void install_interrupt_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupt_requested() { return g_first_signal.load() != 0; }

void wait_for_interrupt() {
  while (sem_wait(&g_signalled.sem) != 0 && errno == EINTR) {
  }
}

void wake_interrupt_waiters() { sem_post(&g_signalled.sem); }

double seconds_since_interrupt() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return double(now.tv_sec - g_signal_time.tv_sec) + 1e-9 * double(now.tv_nsec - g_signal_time.tv_nsec);
}

void raise_test_signals(int64_t completed_steps) {
  static const char* hook = std::getenv("LPT_TEST_SIGNALS_AFTER_STEP");
  if (!hook || !test_hooks_apply_here()) return;
  char* rest = nullptr;
  if (std::strtoll(hook, &rest, 10) != completed_steps || *rest != ':') return;
  announce_test_failure();
  for (const char* p = rest + 1; *p;) {
    const long signo = std::strtol(p, &rest, 10);
    if (rest == p) return;
    std::raise(int(signo));
    p = *rest == ',' ? rest + 1 : rest;
  }
}

void raise_test_failure(int64_t completed_steps) {
  static const char* hook = std::getenv("LPT_TEST_FAIL_AFTER_STEP");
  if (!hook || !test_hooks_apply_here() || std::strtoll(hook, nullptr, 10) != completed_steps) return;
  announce_test_failure();
  fail("step ", completed_steps, ": failing as LPT_TEST_FAIL_AFTER_STEP asks (test hook)");
}

std::string test_perturbation(int64_t completed_steps) {
  static const char* hook = std::getenv("LPT_TEST_PERTURB_AFTER_STEP");
  if (!hook || !test_hooks_apply_here()) return "";
  char* rest = nullptr;
  if (std::strtoll(hook, &rest, 10) != completed_steps || *rest != ':') return "";
  return rest + 1;
}

void test_slow_step(int64_t completed_steps) {
  static const char* hook = std::getenv("LPT_TEST_SLOW_STEP");
  if (!hook || !test_hooks_apply_here()) return;
  char* rest = nullptr;
  if (std::strtoll(hook, &rest, 10) != completed_steps || *rest != ':') return;
  std::fprintf(stderr, "lpt: test hook: step %ld is slow\n", long(completed_steps + 1));
  std::fflush(stderr);
  for (int ms = std::atoi(rest + 1) * 1000; ms > 0;) {  // usleep returns early when a signal comes
    usleep(10000);
    ms -= 10;
  }
}

void test_pause(int64_t completed_steps) {
  static const char* hook = std::getenv("LPT_TEST_PAUSE_AFTER_STEP");
  if (!hook || !test_hooks_apply_here() || std::strtoll(hook, nullptr, 10) != completed_steps) return;
  for (int i = 0; i < 6000 && !interrupt_requested(); ++i) usleep(10000);
}

int interrupt_exit_status() {
  const int signo = g_first_signal.load();
  return signo ? 128 + signo : 0;
}

}  // namespace lpt
