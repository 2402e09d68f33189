#pragma once
// Ctrl-C during training: the first SIGINT/SIGTERM sets a flag that the loop checks after each
// step (it then checkpoints and exits with status 130); a second one exits at once.
namespace lpt {
void install_interrupt_handler();
bool interrupt_requested();
}  // namespace lpt
