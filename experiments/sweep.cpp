#include "experiments/sweep.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include "core/durable_file.h"
#include "core/error.h"
#include "core/json_text.h"
#include "experiments/experiment_config.h"
#include "experiments/report.h"
#include "experiments/run_files.h"

namespace lpt::sweep {

namespace fs = std::filesystem;

namespace {

const char* kStateFile = "sweep-state.json";
const char* kRunConfig = "sweep-config.json";  // the resolved config a run was started with
const char* kLog = "train.log";                // the child's stdout and stderr



// What differs between an earlier run's config and this one, as JSON paths: "/optimizer/lr 0.1 -> 0.05".
std::string config_changes(const std::string& old_config_path, const json& now) {
  if (!fs::is_regular_file(old_config_path)) return "its config is not on disk";
  json old = read_json(old_config_path), cur = now;
  for (json* c : {&old, &cur}) c->erase("name"), c->erase("output_dir");
  std::vector<std::string> changes;
  for (const json& op : json::diff(old, cur)) {
    const std::string path = op["path"];
    const json::json_pointer p(path);
    const std::string was = old.contains(p) ? old[p].dump() : "(absent)";
    const std::string is = cur.contains(p) ? cur[p].dump() : "(absent)";
    changes.push_back(path + " " + was + " -> " + is);
    if (changes.size() == 4) break;
  }
  return changes.empty() ? "nothing (another lpt version?)" : join(changes, ", ");
}


// ---- Running children --------------------------------------------------------------------------

std::atomic<int> g_signals{0}, g_last_signal{0};
void on_sweep_signal(int signo) {
  g_last_signal = signo;
  ++g_signals;
}

// SIGINT/SIGTERM are counted, not acted on, while the sweep runs: the loop forwards each to the
// children (once: they checkpoint; twice: they exit at once, as lpt train does) and waits for them.
struct SignalScope {
  struct sigaction old_int {}, old_term {};
  SignalScope() {
    struct sigaction sa {};
    sa.sa_handler = on_sweep_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  ~SignalScope() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};

// `lpt train ...` as a child in its own process group, so that Ctrl-C at a terminal reaches only
// the sweep (which forwards one signal) and not every child twice; stdout and stderr to `log`.
pid_t spawn_train(const std::vector<std::string>& args, const std::string& log) {
  const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  LPT_CHECK(fd >= 0, "sweep: cannot open '", log, "': ", std::strerror(errno));
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {  // only async-signal-safe calls until exec
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // the sweep killed outright: its runs checkpoint and stop
    if (getppid() != parent) _exit(127);
    dup2(fd, 1);
    dup2(fd, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv("/proc/self/exe", argv.data());
    const char msg[] = "lpt: error: sweep: cannot run /proc/self/exe\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  const int err = errno;
  close(fd);
  LPT_CHECK(pid > 0, "sweep: fork failed: ", std::strerror(err));
  setpgid(pid, pid);  // as the child does: whichever runs first, no Ctrl-C reaches it through the sweep's group
  return pid;
}

// The last line of the log from `offset` on that names an error, else its last non-empty line.
std::string last_error_line(const std::string& log, std::streamoff offset) {
  std::ifstream in(log);
  in.seekg(offset);
  std::string line, error, last;
  while (std::getline(in, line)) {
    const size_t cr = line.find_last_of('\r');  // a terminal-style progress line
    if (cr != std::string::npos) line = line.substr(cr + 1);
    if (line.empty()) continue;
    last = line;
    if (line.find("error") != std::string::npos) error = line;
  }
  return error.empty() ? last : error;
}

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Holds the sweep directory's lock: two sweeps of one grid at once would run its runs twice. The
// descriptor is inherited by the runs (no O_CLOEXEC), so the lock lasts while any run of a killed
// sweep still writes its checkpoint.
struct DirLock {
  int fd = -1;
  explicit DirLock(const std::string& dir) {
    const std::string path = dir + "/sweep.lock";
    fd = open(path.c_str(), O_RDWR | O_CREAT, 0644);
    LPT_CHECK(fd >= 0, "sweep: cannot open '", path, "': ", std::strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      close(fd);
      fail("sweep: another lpt sweep, or a run of one, is running in '", dir, "' (it holds ", path, ")");
    }
  }
  ~DirLock() { close(fd); }
};

}  // namespace

const Record* State::find(const std::string& identity) const {
  for (const Record& r : records)
    if (r.identity == identity) return &r;
  return nullptr;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}


// ---- State ----------------------------------------------------------------------------------------

State read_state(const std::string& path) {
  State s;
  if (!fs::exists(path)) return s;
  const json j = read_json(path);
  LPT_CHECK(j.value("format", "") == "lpt-sweep-state" && j.value("version", 0) == 1, "sweep: '", path,
            "' is not an lpt sweep state (format lpt-sweep-state, version 1)");
  try {
    for (const json& r : j.at("runs"))
      s.records.push_back({r.at("name"), r.at("identity"), r.at("dir"), r.at("status"), r.at("threads"),
                           r.at("exit_status"), r.at("error")});
  } catch (const json::exception& e) {
    fail("sweep: '", path, "': ", e.what());
  }
  return s;
}

void write_state(const std::string& path, const State& state) {
  json runs = json::array();
  for (const Record& r : state.records)
    runs.push_back({{"name", r.name}, {"identity", r.identity}, {"dir", r.dir}, {"status", r.status},
                    {"threads", r.threads}, {"exit_status", r.exit_status}, {"error", r.error}});
  write_json_atomically(path, {{"format", "lpt-sweep-state"}, {"version", 1}, {"runs", runs}});
}

std::vector<Planned> plan(const Grid& grid, const std::vector<Run>& runs, const State& state) {
  std::set<std::string> taken;  // directories of other identities, on disk or planned
  for (const Record& r : state.records) taken.insert(r.dir);
  std::vector<Planned> out;
  for (const Run& run : runs) {
    Planned p{.run = &run};
    if (const Record* rec = state.find(run.identity)) {
      p.dir = rec->dir;
      if (rec->status == "finished" && fs::is_regular_file(rec->dir + "/" + run_files::metrics)) {
        p.status = "finished";
      } else {
        p.resume = fs::is_regular_file(rec->dir + "/" + run_files::checkpoint);
        p.status = rec->status == "failed" ? "retry" : p.resume ? "resumable" : "new";
      }
    } else {
      const std::string base = grid.dir + "/" + run.name;
      p.dir = base;
      for (int k = 2; taken.count(p.dir) || fs::exists(p.dir); ++k) p.dir = base + "." + std::to_string(k);
      taken.insert(p.dir);
      p.status = "new";
      for (const Record& r : state.records)
        if (r.name == run.name) {  // the latest earlier run of this name
          p.status = "changed";
          p.why = r.threads != run.threads ? "threads " + std::to_string(r.threads) + " -> " + std::to_string(run.threads)
                                           : config_changes(r.dir + "/" + kRunConfig, run.config);
          p.why = "differs from " + r.dir + ": " + p.why;
        }
    }
    out.push_back(std::move(p));
  }
  return out;
}

// ---- The sweep ------------------------------------------------------------------------------------


int run_sweep(const Options& o) {
  const Grid grid = load_grid(o.grid, o.overrides);
  LPT_CHECK(o.parallel >= 1, "sweep: --parallel must be at least 1");
  // The base's `threads` (or the schema's default): each run's config is validated below, the base alone may not be.
  const auto threads_key = std::find_if(experiment_schema().begin(), experiment_schema().end(),
                                        [](const SchemaField& f) { return f.key == "threads"; });
  const json base_threads = grid.base.contains("threads") ? grid.base["threads"] : threads_key->default_value;
  LPT_CHECK(o.threads > 0 || (base_threads.is_number_integer() && base_threads.get<int>() >= 1), o.grid,
            ": /base/threads: expected an integer >= 1, got ", base_threads.dump());
  const int total_threads = o.threads > 0 ? o.threads : base_threads.get<int>();
  LPT_CHECK(total_threads >= o.parallel, "sweep: ", total_threads, " thread(s) cannot be divided among ", o.parallel,
            " parallel runs (raise --threads or lower --parallel)");
  const int threads = total_threads / o.parallel;
  std::vector<Run> runs = expand(grid, threads);
  // Held from planning to the end, so that two sweeps of one directory never plan on one state.
  std::optional<DirLock> lock;
  if (!o.dry_run) {
    fs::create_directories(grid.dir);
    lock.emplace(grid.dir);
  }
  const std::string state_path = grid.dir + "/" + kStateFile;
  State state = read_state(state_path);
  const std::vector<Planned> planned = plan(grid, runs, state);
  const std::string x = plot_x(grid, runs, o.x);
  const std::string reference = !o.reference.empty() ? o.reference : grid.plot_reference;
  if (!reference.empty()) read_report_run(reference);  // a missing reference run is an error now, not after the runs
  const std::string ext = fs::path(o.plot).extension().string();
  LPT_CHECK(o.plot.empty() || ext == ".svg" || ext == ".png", "sweep: --plot '", o.plot, "': expected NAME.svg or NAME.png");

  size_t to_run = 0;
  for (const Planned& p : planned) to_run += p.status != "finished";
  std::printf("lpt sweep '%s': %zu run(s), %zu to run, %d at a time with %d thread(s) each, in %s\n", grid.name.c_str(),
              runs.size(), to_run, o.parallel, threads, grid.dir.c_str());
  for (const Planned& p : planned) {
    std::vector<std::string> values;
    for (const auto& [a, v] : p.run->values) {  // as resolved: a later axis may have changed part of it
      const json::json_pointer at(pointer(a->path));
      values.push_back(pointer(a->path) + " = " + (p.run->config.contains(at) ? p.run->config[at] : v).dump());
    }
    std::printf("  %-9s  %s  %s  [%s]%s%s\n", p.status.c_str(), p.run->name.c_str(), p.dir.c_str(), join(values, ", ").c_str(),
                p.why.empty() ? "" : "\n             changed: ", p.why.c_str());
  }
  std::fflush(stdout);
  if (o.dry_run) return 0;

  const auto record_of = [&state](const Planned& p) -> Record& {
    for (Record& r : state.records)
      if (r.identity == p.run->identity) return r;
    state.records.push_back({p.run->name, p.run->identity, p.dir, "", p.run->threads, 0, ""});
    return state.records.back();
  };

  struct Child {
    pid_t pid;
    const Planned* planned;
    std::streamoff log_offset;
  };
  std::vector<Child> children;
  std::vector<const Planned*> queue;
  for (const Planned& p : planned)
    if (p.status != "finished") queue.push_back(&p);
  std::reverse(queue.begin(), queue.end());  // pop_back takes them in grid order

  const SignalScope signals;
  g_signals = 0;
  int forwarded = 0;
  bool any_failed = false;
  while (!queue.empty() || !children.empty()) {
    while (g_signals == 0 && !queue.empty() && int(children.size()) < o.parallel) {
      const Planned& p = *queue.back();
      queue.pop_back();
      fs::create_directories(p.dir);
      json config = p.run->config;
      config["output_dir"] = p.dir;
      write_json_atomically(p.dir + "/" + kRunConfig, config);
      const std::vector<std::string> args =
          p.resume ? std::vector<std::string>{"lpt", "train", "--resume", p.dir}
                   : std::vector<std::string>{"lpt", "train", p.dir + "/" + kRunConfig};
      if (!p.resume) fs::remove(p.dir + "/" + run_files::metrics);  // a restart: no epochs of an earlier attempt
      const std::string log = p.dir + "/" + kLog;
      {
        std::ofstream(log, std::ios::app) << "== lpt sweep " << now_utc() << ": " << join(args, " ") << "\n";
      }
      const std::streamoff offset = std::streamoff(fs::file_size(log));
      Record& rec = record_of(p);
      rec.status = "running", rec.error = "", rec.exit_status = 0, rec.dir = p.dir;
      write_state(state_path, state);
      children.push_back({spawn_train(args, log), &p, offset});
      std::printf("  started   %s%s\n", p.run->name.c_str(), p.resume ? " (resuming)" : "");
      std::fflush(stdout);
    }
    if (g_signals > forwarded) {  // the same signal to every running child, once per signal received
      forwarded = g_signals;
      for (const Child& c : children) kill(c.pid, g_last_signal);
    }
    bool reaped = false;
    for (size_t i = 0; i < children.size(); ++i) {
      int st = 0;
      if (waitpid(children[i].pid, &st, WNOHANG) != children[i].pid) continue;
      const Planned& p = *children[i].planned;
      Record& rec = record_of(p);
      const std::string log = p.dir + "/" + kLog;
      if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        rec.status = "finished", rec.exit_status = 0;
      } else if (WIFEXITED(st) && (WEXITSTATUS(st) == 128 + SIGINT || WEXITSTATUS(st) == 128 + SIGTERM)) {
        rec.status = "interrupted", rec.exit_status = WEXITSTATUS(st);  // checkpointed
      } else if (WIFSIGNALED(st) && g_signals > 0) {
        rec.status = "interrupted", rec.exit_status = 128 + WTERMSIG(st);  // stopped before training began
      } else {
        rec.status = "failed";
        rec.exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        rec.error = last_error_line(log, children[i].log_offset);
        if (WIFSIGNALED(st)) rec.error = "killed by signal " + std::to_string(WTERMSIG(st)) + (rec.error.empty() ? "" : ": " + rec.error);
        if (rec.error.empty()) rec.error = "exit status " + std::to_string(rec.exit_status);
        any_failed = true;
      }
      write_state(state_path, state);
      std::printf("  %-9s %s%s%s\n", rec.status.c_str(), p.run->name.c_str(), rec.error.empty() ? "" : ": ", rec.error.c_str());
      std::fflush(stdout);
      children.erase(children.begin() + long(i));
      reaped = true;
      break;
    }
    if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  const Outputs out = write_results(grid, runs, state, x, reference, o.plot);
  std::printf("wrote %s, %s, %s\n", out.csv.c_str(), out.markdown.c_str(), out.svg.c_str());
  if (g_signals > 0) {
    std::printf("lpt sweep: interrupted; run it again to continue\n");
    return 128 + g_last_signal;
  }
  if (any_failed) std::printf("lpt sweep: some runs failed (see the table's error column and their train.log)\n");
  const bool all_finished = std::all_of(runs.begin(), runs.end(), [&](const Run& r) {
    const Record* rec = state.find(r.identity);
    return rec && rec->status == "finished";
  });
  if (!all_finished && !any_failed) std::printf("lpt sweep: some runs were interrupted; run it again to continue\n");
  return all_finished ? 0 : 1;
}

}  // namespace lpt::sweep
