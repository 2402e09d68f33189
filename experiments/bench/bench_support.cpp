#include "experiments/bench/bench_support.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace lpt::bench {

ChildResult spawn(const std::vector<std::string>& args, bool quiet) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int fds[2];
  LPT_CHECK(pipe(fds) == 0, "pipe failed: ", std::strerror(errno));
  std::fflush(nullptr);
  const pid_t pid = fork();
  LPT_CHECK(pid >= 0, "fork failed: ", std::strerror(errno));
  if (pid == 0) {  // only async-signal-safe calls until exec
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    if (quiet) {
      const int null = open("/dev/null", O_WRONLY);
      if (null >= 0) dup2(null, 2);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  ChildResult r;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) != 0;)
    if (n > 0) r.out.append(buf, size_t(n));
    else if (errno != EINTR) break;
  close(fds[0]);
  int status = 0;
  rusage usage{};
  while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) r.exit_status = WEXITSTATUS(status);
  r.peak_mib = double(usage.ru_maxrss) / 1024.0;  // KiB on Linux
  return r;
}

nlohmann::json last_json_line(std::string out) {
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return nlohmann::json::parse(out.substr(out.rfind('\n') + 1), nullptr, false);  // npos + 1 == 0
}

std::string find_repo_file(const std::string& rel, const std::string& given) {
  if (!given.empty()) return given;
  for (std::filesystem::path p = std::filesystem::read_symlink("/proc/self/exe").parent_path();; p = p.parent_path()) {
    if (std::filesystem::exists(p / rel)) return (p / rel).string();
    if (p == p.root_path() || p.empty()) return {};
  }
}

std::string check_torch(std::string& version, const std::string& also) {
  if (!std::filesystem::exists(kPython)) return "python3-torch not installed";
  const std::string code = "import torch; print(torch.__version__)" + (also.empty() ? "" : "; import " + also);
  const ChildResult r = spawn({kPython, "-c", code}, true);
  version = r.out.substr(0, r.out.find('\n'));
  if (r.exit_status == 0) return {};
  return version.empty() ? "python3-torch not installed" : "python3-" + also + " not installed";
}

}  // namespace lpt::bench
