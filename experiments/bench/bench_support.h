#pragma once
// What the benchmarks that compare against PyTorch share: running a child process with its stdout
// captured (and its peak memory), reading its JSON result, finding a script of the repository from
// the benchmark binary, and checking that Debian's python3-torch imports.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lpt::bench {

constexpr const char* kPython = "/usr/bin/python3";  // Debian's, where python3-torch installs

struct ChildResult {
  int exit_status = -1;  // -1: killed by a signal or not started
  std::string out;       // its stdout
  double peak_mib = 0;   // ru_maxrss
};

// Runs argv[0] with its stdout captured; stderr passes through unless quiet.
ChildResult spawn(const std::vector<std::string>& args, bool quiet = false);

// The last line of a child's stdout, parsed; discarded (not an object) when it is not JSON.
nlohmann::json last_json_line(std::string out);

// `given` when set; else the repository file `rel` (e.g. "experiments/bench/train_bench_torch.py"),
// found by walking up from this binary's directory (build*/experiments/bench/ lies inside the
// repository); empty when not found.
std::string find_repo_file(const std::string& rel, const std::string& given);

// Empty when Debian's python3-torch (and the module `also`, e.g. "torchvision", unless empty)
// imports, setting `version`; otherwise why a PyTorch comparison is skipped. Nothing is installed.
std::string check_torch(std::string& version, const std::string& also);

}  // namespace lpt::bench
