#pragma once
// Ctrl-C or SIGTERM during training: the first SIGINT/SIGTERM sets a flag that the loop checks
// after each step (it then checkpoints and exits with 128 + the signal's number: 130 for Ctrl-C,
// 143 for SIGTERM, as a shell reports a process the signal killed); a second one exits at once
// with that status (the last checkpoint on disk is whole: writes are durable).
#include <cstdint>

namespace lpt {
void install_interrupt_handler();
bool interrupt_requested();
// 128 + the first signal's number (0 when none came).
int interrupt_exit_status();

// Test hook: with LPT_TEST_SIGNALS_AFTER_STEP="N:S1[,S2...]" in the environment, the process sends
// itself the signals S1, S2, ... (numbers) when `completed_steps` reaches N, so interrupt tests
// hit a chosen mid-epoch step instead of racing the run. Does nothing otherwise.
void raise_test_signals(int64_t completed_steps);
}  // namespace lpt
