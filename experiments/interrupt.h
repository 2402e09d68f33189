#pragma once
// Ctrl-C or SIGTERM during training: the first SIGINT/SIGTERM sets a flag that the loop checks
// after each step (it then checkpoints and exits with 128 + the signal's number: 130 for Ctrl-C,
// 143 for SIGTERM, as a shell reports a process the signal killed); a second one exits at once
// with that status (the last checkpoint on disk is whole: writes are durable).
#include <cstdint>
#include <string>

namespace lpt {
void install_interrupt_handler();
bool interrupt_requested();
// Blocks until the first SIGINT/SIGTERM comes (at once if it came) or wake_interrupt_waiters() is
// called; one waiter per signal.
void wait_for_interrupt();
void wake_interrupt_waiters();
// Seconds since the first signal came (after wait_for_interrupt() returned for it).
double seconds_since_interrupt();
// 128 + the first signal's number (0 when none came).
int interrupt_exit_status();

// Test hook: with LPT_TEST_SIGNALS_AFTER_STEP="N:S1[,S2...]" in the environment, the process sends
// itself the signals S1, S2, ... (numbers) when `completed_steps` reaches N, so interrupt tests
// hit a chosen mid-epoch step instead of racing the run. Does nothing otherwise.
// Under mpirun, with LPT_TEST_RANK=R in the environment, only rank R acts on the test hooks.
// Before the signals (and before the failure below) the process prints
// "lpt: test hook fails this rank at monotonic second T" to stderr (T from CLOCK_MONOTONIC).
void raise_test_signals(int64_t completed_steps);
// Test hook: with LPT_TEST_FAIL_AFTER_STEP=N, throws an lpt::Error when `completed_steps` reaches N
// (a rank failing alone, as with a bad data file on one machine). Does nothing otherwise.
void raise_test_failure(int64_t completed_steps);
// Test hook: with LPT_TEST_PERTURB_AFTER_STEP="N:NAME", the name of the parameter whose first value
// the trainer changes (adds 1e-3 to) when `completed_steps` reaches N, as a rank drifting from the
// others would; "" otherwise.
std::string test_perturbation(int64_t completed_steps);
// Test hook: with LPT_TEST_SLOW_STEP="N:S", step N + 1 takes S seconds more between its backward
// pass and its update, signals or not (a long step), after printing "lpt: test hook: step N+1 is
// slow". Does nothing otherwise.
void test_slow_step(int64_t completed_steps);
// Test hook: with LPT_TEST_PAUSE_AFTER_STEP=N, waits when `completed_steps` reaches N until a
// signal comes (at most 60 s), so a test can signal a run at a known point. Does nothing otherwise.
void test_pause(int64_t completed_steps);
}  // namespace lpt
