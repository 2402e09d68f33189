#include "tests/support/run_lpt.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace lpt::testing {

CliRun run_lpt(const std::string& args) {
  // One output file per call and process: ctest runs tests in parallel processes.
  static std::atomic<int> calls = 0;
  const std::string out = (std::filesystem::temp_directory_path() /
                           ("lpt_cli_" + std::to_string(getpid()) + "_" + std::to_string(calls++) + ".txt"))
                              .string();
  const std::string cmd = std::string(LPT_BINARY) + " " + args + " > " + out + " 2>&1";
  const int raw = std::system(cmd.c_str());
  std::stringstream ss;
  {
    std::ifstream in(out);
    ss << in.rdbuf();
  }
  std::filesystem::remove(out);
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, ss.str()};
}

}  // namespace lpt::testing
