#pragma once
// Runs the lpt binary as a separate process (end-to-end CLI tests).
#include <string>

namespace lpt::testing {

struct CliRun {
  int status;          // exit status (-1: killed by a signal)
  std::string output;  // stdout and stderr together
};

// `args` is a shell command line after the binary's name.
CliRun run_lpt(const std::string& args);

}  // namespace lpt::testing
