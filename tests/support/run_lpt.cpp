#include "tests/support/run_lpt.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
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
  std::string output = file_text(out);
  std::filesystem::remove(out);
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, std::move(output)};
}

std::string file_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double json_number(const std::string& text, const std::string& key) {
  const size_t p = text.find("\"" + key + "\"");
  if (p == std::string::npos) return std::nan("");
  return std::stod(text.substr(text.find(':', p) + 1));
}

}  // namespace lpt::testing
