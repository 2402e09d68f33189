#pragma once
// Runs the lpt binary as a separate process (end-to-end CLI tests), and reads what it wrote.
#include <string>

namespace lpt::testing {

struct CliRun {
  int status;          // exit status (-1: killed by a signal)
  std::string output;  // stdout and stderr together
};

// `args` is a shell command line after the binary's name.
CliRun run_lpt(const std::string& args);

// A whole file as text ("" when it cannot be read).
std::string file_text(const std::string& path);

// The number after "key": in JSON text (lpt's outputs, a metrics line); NaN when the key is missing.
double json_number(const std::string& text, const std::string& key);

}  // namespace lpt::testing
